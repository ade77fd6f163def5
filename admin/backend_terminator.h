#pragma once
// pg_terminate_backend through an upstream's control connection, with the
// safety rules of the classic query: never pgvalve's own control backend,
// never a parallel worker (leader_pid IS NULL, PostgreSQL 13 and later),
// and a check that each pid really left pg_stat_activity.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "admin/control_connection.h"
#include "proxy/asio.h"

namespace pgvalve::admin {

struct TerminateOutcome {
  int32_t pid = 0;
  std::string user;              // from pg_stat_activity, when known
  std::string application_name;  // from pg_stat_activity, when known
  // "terminated", or why not: "refused: ...", "skipped: ...".
  std::string result;
  bool signalled = false;
  // Seconds until the pid was gone from pg_stat_activity; nullopt if it was
  // still there when the wait ended.
  std::optional<double> gone_after;
};

// Signals each pid. Refuses the control connection's own pid.
proxy::Awaitable<std::vector<TerminateOutcome>> TerminateBackends(ControlConnection& control,
                                                                  const std::vector<int32_t>& pids);

// Signals every backend on `database` that is not in `excluded` (pgvalve's
// own sessions, handled separately), not the control connection and not a
// parallel worker.
proxy::Awaitable<absl::StatusOr<std::vector<TerminateOutcome>>> TerminateDirectBackends(
    ControlConnection& control, const std::string& database, const std::vector<int32_t>& excluded);

// Waits up to `wait` for the signalled pids to leave pg_stat_activity and
// fills in gone_after.
proxy::Awaitable<void> AwaitBackendsGone(ControlConnection& control,
                                         std::vector<TerminateOutcome>& outcomes,
                                         std::chrono::milliseconds wait);

// "{1,2,3}": an int[] literal for a bound parameter.
std::string IntArrayLiteral(const std::vector<int32_t>& values);

}  // namespace pgvalve::admin
