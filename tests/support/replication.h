#pragma once
// Replication between two PgServers, as a blue/green cutover finds them:
// physical (a standby made with PgServer::StandbyOf, caught up with
// WaitForReplayCatchUp). Every wait polls a server-side condition with a
// deadline and throws std::runtime_error with the servers' log tails when
// it passes.

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

}  // namespace pgvalve::test
