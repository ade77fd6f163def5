#pragma once
// pg_terminate_backend and pg_cancel_backend through an upstream's control
// connection: never pgvalve's own control backend, and a check that each
// terminated pid really left pg_stat_activity. Which pids to signal is
// found by activity_queries.h, which keeps the other rules of the classic
// query (no parallel workers, no background processes).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proxy/asio.h"
#include "upstream/control_connection.h"

namespace pgvalve::upstream {

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

enum class BackendSignal { kCancel, kTerminate };

// pg_cancel_backend or pg_terminate_backend on each pid, one statement each
// so that one refusal (a superuser's backend) spares the others. Refuses
// the control connection's own pid.
proxy::Awaitable<std::vector<TerminateOutcome>> SignalBackends(ControlConnection& control,
                                                               const std::vector<int32_t>& pids,
                                                               BackendSignal signal);

inline proxy::Awaitable<std::vector<TerminateOutcome>> TerminateBackends(
    ControlConnection& control, const std::vector<int32_t>& pids) {
  return SignalBackends(control, pids, BackendSignal::kTerminate);
}

// Waits up to `wait` for the signalled pids to leave pg_stat_activity and
// fills in gone_after.
proxy::Awaitable<void> AwaitBackendsGone(ControlConnection& control,
                                         std::vector<TerminateOutcome>& outcomes,
                                         std::chrono::milliseconds wait);

// "{1,2,3}": an int[] literal for a bound parameter.
std::string IntArrayLiteral(const std::vector<int32_t>& values);

}  // namespace pgvalve::upstream
