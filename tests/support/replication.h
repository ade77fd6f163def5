#pragma once
// Replication between two PgServers, as a blue/green cutover finds them:
// physical (a standby made with PgServer::StandbyOf, caught up with
// WaitForReplayCatchUp) and logical (a subscription on the target to a
// publication on the source). Every wait polls a server-side condition
// with a deadline and throws std::runtime_error with the servers' log
// tails when it passes.

#include <chrono>
#include <string_view>

#include "tests/support/pg_server.h"

namespace pgvalve::test {

// How long each helper below may wait: far above what any of them needs on
// a busy two-core machine; it only decides when a hang is reported.
inline constexpr std::chrono::seconds kReplicationTimeout{60};

// Waits until `standby` has replayed everything committed on `primary`
// before the call. It marks the point with a logical message written to
// the primary's WAL (pg_logical_emit_message, committed synchronously; it
// changes no table and consumes one transaction id) and waits for the
// standby's replay position to pass it.
void WaitForReplayCatchUp(const PgServer& primary, const PgServer& standby,
                          std::chrono::milliseconds timeout = kReplicationTimeout);

// Replicates `database` from `source` to `target` logically:
// - creates `database` on `target` and copies the schema into it
//   (pg_dump --schema-only | psql) when it is not there yet; an existing
//   database is taken to have the schema already;
// - CREATE PUBLICATION `publication` FOR ALL TABLES on `source`;
// - CREATE SUBSCRIPTION `subscription` on `target`, which copies the rows
//   and creates a replication slot of that name on `source`;
// - returns once every table's initial copy is done (srsubstate 'r') and
//   the subscription's walsender on `source` is streaming.
// `source` needs Options::wal_level = "logical" (std::invalid_argument
// otherwise). As everywhere in logical replication, sequences are not
// carried, and a table without a primary key (pgbench_history) takes
// inserts on `source` but refuses updates and deletes unless it is given
// REPLICA IDENTITY FULL.
void SetUpLogicalReplication(const PgServer& source, const PgServer& target,
                             std::string_view database,
                             std::string_view publication = "cutover_pub",
                             std::string_view subscription = "cutover_sub");

// Waits until `subscription` has received everything committed on
// `source` before the call (its walsender's reported position passes a
// marker written as in WaitForReplayCatchUp); the changes are then applied
// on the target.
void WaitForSubscriptionCatchUp(const PgServer& source,
                                std::string_view subscription = "cutover_sub",
                                std::chrono::milliseconds timeout = kReplicationTimeout);

}  // namespace pgvalve::test
