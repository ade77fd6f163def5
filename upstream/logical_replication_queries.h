#pragma once
// What a logical cutover asks the two servers: which subscriptions on the
// target replicate the database from the source (and through which slot),
// how far the source's slot is confirmed, whether the initial table copies
// are done, and the sequences, which logical replication does not carry.
//
// Subscriptions and sequences are per database: the queries that read or
// set them take a control connection to the moved database itself, not
// the upstream's control_dbname.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proxy/asio.h"
#include "upstream/control_connection.h"
#include "upstream/replication_queries.h"

namespace pgvalve::upstream {

// An enabled or disabled subscription of `database` on the target
// (pg_subscription is a shared catalog: any connection can read it).
struct Subscription {
  std::string name;
  std::string slot;  // the replication slot it streams from, on its publisher
  bool enabled = false;
};
proxy::Awaitable<absl::StatusOr<std::vector<Subscription>>> SubscriptionsOf(ControlConnection& control,
                                                                            const std::string& database);

// A logical replication slot on the source (pg_replication_slots).
struct LogicalSlot {
  std::string database;
  bool active = false;                 // a walsender streams from it now
  std::optional<Lsn> confirmed_flush;  // what the subscriber has flushed
};
proxy::Awaitable<absl::StatusOr<std::optional<LogicalSlot>>> ReadLogicalSlot(ControlConnection& control,
                                                                            const std::string& slot);

// Tables of a subscription whose initial copy is not finished
// (pg_subscription_rel.srsubstate other than 'r'), as "schema.table
// (state)". Needs a connection to the subscription's database.
proxy::Awaitable<absl::StatusOr<std::vector<std::string>>> TablesNotReady(ControlConnection& database_control,
                                                                         const std::string& subscription);

// A sequence's state on the source (pg_sequences). `last_value` is what
// was last written to disk, ahead of what sessions handed out when they
// cache values; nullopt when nextval was never called.
struct SequenceState {
  std::string schema;
  std::string name;
  std::optional<int64_t> last_value;
  int64_t increment = 1;
  bool readable = true;  // false: the control user may not read it
};
proxy::Awaitable<absl::StatusOr<std::vector<SequenceState>>> ReadSequences(ControlConnection& database_control);

// setval(schema.name, last_value, true) on the target: its next nextval()
// returns the source's last_value plus the increment, the value the source
// would hand out next. Fails (42P01) when the target has no such sequence.
proxy::Awaitable<absl::Status> CopySequence(ControlConnection& database_control, const SequenceState& sequence);

}  // namespace pgvalve::upstream
