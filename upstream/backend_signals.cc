#include "upstream/backend_signals.h"

#include <algorithm>
#include <set>

#include "fmt/format.h"
#include "proxy/deadline.h"
#include "proxy/status_text.h"

namespace pgvalve::upstream {
namespace {

using std::chrono::steady_clock;

// pg_stat_activity is re-read this often while waiting for pids to go.
constexpr std::chrono::milliseconds kGonePollInterval{50};

bool IsTrue(const std::optional<std::string>& value) { return value && *value == "t"; }

int32_t ParsePid(const std::optional<std::string>& text) {
  return text ? static_cast<int32_t>(std::stol(*text)) : 0;
}

}  // namespace

std::string IntArrayLiteral(const std::vector<int32_t>& values) {
  std::string literal = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    literal += (i == 0 ? "" : ",") + std::to_string(values[i]);
  }
  return literal + "}";
}

proxy::Awaitable<std::vector<TerminateOutcome>> SignalBackends(ControlConnection& control,
                                                               const std::vector<int32_t>& pids,
                                                               BackendSignal signal) {
  const bool terminate = signal == BackendSignal::kTerminate;
  const std::string sql =
      terminate ? "SELECT pg_terminate_backend($1)" : "SELECT pg_cancel_backend($1)";
  std::vector<TerminateOutcome> outcomes;
  absl::Status connected = co_await control.EnsureConnected();
  for (int32_t pid : pids) {
    TerminateOutcome outcome;
    outcome.pid = pid;
    if (!connected.ok()) {
      outcome.result = fmt::format("failed: {}", proxy::StatusText(connected));
    } else if (pid == control.backend_pid()) {
      outcome.result = "skipped: pgvalve's own control connection";
    } else {
      // Arguments are built before the co_await: GCC 12 cannot compile a
      // braced initializer list inside a co_await expression.
      std::vector<std::optional<std::string>> params = {std::to_string(pid)};
      absl::StatusOr<QueryResult> result = co_await control.Query(sql, std::move(params));
      const bool confirmed = result.ok() && !result->rows.empty() && IsTrue(result->rows[0][0]);
      if (terminate) {
        ++control.terminations().sent;
        if (confirmed) ++control.terminations().confirmed;
      }
      if (!result.ok()) {
        outcome.result = fmt::format("refused: {}", proxy::StatusText(result.status()));
      } else if (confirmed) {
        outcome.result = terminate ? "terminated" : "cancel signal sent";
        outcome.signalled = true;
      } else if (result->notices.empty()) {
        outcome.result = "refused: not a backend of this server";
      } else {
        outcome.result = fmt::format("refused: {}", result->notices.front());
      }
    }
    outcomes.push_back(std::move(outcome));
  }
  co_return outcomes;
}

proxy::Awaitable<void> AwaitBackendsGone(ControlConnection& control,
                                         std::vector<TerminateOutcome>& outcomes,
                                         std::chrono::milliseconds wait) {
  const auto started = steady_clock::now();
  const auto deadline = started + wait;
  while (true) {
    std::vector<int32_t> waiting;
    for (const auto& outcome : outcomes) {
      if (outcome.signalled && !outcome.gone_after) waiting.push_back(outcome.pid);
    }
    if (waiting.empty()) co_return;
    std::vector<std::optional<std::string>> params = {IntArrayLiteral(waiting)};
    absl::StatusOr<QueryResult> present = co_await control.Query(
        "SELECT pid FROM pg_stat_activity WHERE pid = ANY($1::int[])", std::move(params));
    if (!present.ok()) co_return;
    std::set<int32_t> still_there;
    for (const auto& row : present->rows) still_there.insert(ParsePid(row[0]));
    const std::chrono::duration<double> elapsed = steady_clock::now() - started;
    for (auto& outcome : outcomes) {
      if (outcome.signalled && !outcome.gone_after && !still_there.contains(outcome.pid)) {
        outcome.gone_after = elapsed.count();
      }
    }
    if (steady_clock::now() >= deadline) co_return;
    co_await proxy::SleepFor(kGonePollInterval);
  }
}

}  // namespace pgvalve::upstream
