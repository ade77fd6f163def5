#include "admin/jobs/limit_enforcer.h"

#include <spdlog/spdlog.h>

#include "config/value_text.h"
#include "fmt/format.h"
#include "protocol/sqlstate.h"
#include "proxy/cancel_forwarder.h"
#include "proxy/log_text.h"
#include "proxy/status_text.h"
#include "upstream/backend_signals.h"

namespace pgvalve::admin {
namespace {

using config::Limit;
using proxy::QuoteForLog;

constexpr std::chrono::milliseconds kCancelTimeout{5000};

// Whether the query a cancel or terminate was decided for is still the one
// running: the session may have finished it, or started the next one,
// since the sweep looked.
bool StillRunning(const DueAction& action) {
  return action.session->state() == proxy::SessionState::kActive &&
         action.session->query_start() == action.query_start;
}

}  // namespace

LimitEnforcer::LimitEnforcer(proxy::asio::any_io_executor executor, proxy::ConfigHolder& config,
                             proxy::SessionRegistry& sessions, upstream::ControlConnections& control,
                             const RuntimeLimits& runtime, LimitCounters& counters)
    : executor_(std::move(executor)),
      config_(config),
      sessions_(sessions),
      control_(control),
      runtime_(runtime),
      counters_(counters),
      timer_(executor_) {}

void LimitEnforcer::Start() {
  running_ = true;
  proxy::asio::co_spawn(executor_, SweepEverySecond(), proxy::asio::detached);
}

void LimitEnforcer::Stop() {
  running_ = false;
  timer_.cancel();
}

proxy::Awaitable<void> LimitEnforcer::SweepEverySecond() {
  while (running_) {
    timer_.expires_after(kSweepInterval);
    auto [error] = co_await timer_.async_wait(proxy::kUseTuple);
    if (error || !running_) co_return;
    Sweep();
  }
}

void LimitEnforcer::Sweep() {
  const std::shared_ptr<const config::Config> config = config_.Current();
  LimitResolver limits(*config, runtime_);
  if (!limits.AnyEnforced()) return;
  sessions_.CollectUnordered(swept_);
  std::vector<DueAction> due = planner_.Plan(swept_, limits, proxy::WallClock::now());
  // Not kept until the next sweep: the records of sessions that end
  // meanwhile would live on.
  swept_.clear();
  for (DueAction& action : due) CarryOut(std::move(action), *config);
}

void LimitEnforcer::CarryOut(DueAction action, const config::Config& config) {
  switch (action.action) {
    case LimitAction::kCancel:
      proxy::asio::co_spawn(executor_, Cancel(std::move(action)), proxy::asio::detached);
      return;
    case LimitAction::kTerminate: {
      auto upstream = config.upstreams.find(action.session->upstream());
      if (upstream == config.upstreams.end() || !upstream->second.control_user) {
        // Closing the client's socket would leave the query running on;
        // another cancel is all pgvalve can do without a control connection.
        spdlog::warn(
            "limit query_timeout on database {}: client {} (backend pid {}) still runs its query "
            "after a cancel, but upstream {} has {}, so its backend cannot be terminated; "
            "sending another cancel request instead",
            QuoteForLog(action.session->identity().database), action.session->id(),
            action.session->backend_pid(), QuoteForLog(action.session->upstream()),
            upstream == config.upstreams.end() ? "been removed from the configuration"
                                               : "no control_user");
        proxy::asio::co_spawn(executor_, Cancel(std::move(action)), proxy::asio::detached);
        return;
      }
      proxy::asio::co_spawn(executor_,
                            Terminate(std::move(action), upstream->second, config.proxy.terminate_wait),
                            proxy::asio::detached);
      return;
    }
    case LimitAction::kClose:
      Close(action);
      return;
  }
}

proxy::Awaitable<void> LimitEnforcer::Cancel(DueAction action) {
  std::optional<proxy::BackendKey> key = action.session->backend();
  if (!key || !StillRunning(action)) co_return;
  const absl::Status sent = co_await proxy::ForwardCancelRequest(*key, kCancelTimeout);
  if (sent.ok()) counters_.Add(action.set_on, action.limit, LimitAction::kCancel);
  Audit(action, LimitAction::kCancel,
        sent.ok() ? "cancel request sent" : fmt::format("failed: {}", proxy::StatusText(sent)));
}

proxy::Awaitable<void> LimitEnforcer::Terminate(DueAction action, config::UpstreamConfig upstream,
                                                std::chrono::milliseconds terminate_wait) {
  if (!StillRunning(action)) co_return;
  std::shared_ptr<upstream::ControlConnection> control = control_.For(upstream);
  const std::vector<int32_t> pids = {action.session->backend_pid()};
  std::vector<upstream::TerminateOutcome> outcomes = co_await upstream::TerminateBackends(*control, pids);
  std::string outcome = outcomes.front().result;
  if (outcomes.front().signalled) {
    counters_.Add(action.set_on, action.limit, LimitAction::kTerminate);
    co_await upstream::AwaitBackendsGone(*control, outcomes, terminate_wait);
    outcome += outcomes.front().gone_after
                   ? fmt::format(", gone from pg_stat_activity after {:.3f} s",
                                 *outcomes.front().gone_after)
                   : fmt::format(", still in pg_stat_activity after {} ms", terminate_wait.count());
  }
  Audit(action, LimitAction::kTerminate, outcome);
}

void LimitEnforcer::Close(const DueAction& action) {
  std::shared_ptr<proxy::SessionControl> control = action.session->control();
  if (!control) return;  // it ended since the sweep looked
  const std::string value = config::FormatDuration(action.value);
  if (action.limit == Limit::kIdleInTransactionTimeout) {
    // PostgreSQL's own idle_in_transaction_session_timeout says the same,
    // with the same SQLSTATE, so clients that handle one handle both. The
    // backend gets a Terminate and rolls the transaction back.
    control->CloseIfStill(
        action.stamp, std::string(protocol::sqlstate::kIdleInTransactionSessionTimeout),
        fmt::format("terminating connection due to idle-in-transaction timeout "
                    "(pgvalve idle_in_transaction_timeout = {})",
                    value));
  } else {
    control->CloseIfStill(action.stamp, std::string(protocol::sqlstate::kAdminShutdown),
                          fmt::format("terminating connection due to idle timeout "
                                      "(pgvalve client_idle_timeout = {})",
                                      value));
  }
  counters_.Add(action.set_on, action.limit, LimitAction::kClose);
  // CloseIfStill leaves a session that moved on meanwhile (its COMMIT
  // crossed the sweep), so this is a request, not a certainty.
  Audit(action, LimitAction::kClose, "close requested if still in the same state");
}

void LimitEnforcer::Audit(const DueAction& action, LimitAction done, std::string_view outcome) {
  const proxy::SessionIdentity& session = action.session->identity();
  spdlog::info(
      "limit audit: database={} limit={} value={} set_on={} client={} backend_pid={} user={} "
      "action={} outcome={}",
      QuoteForLog(session.database), config::LimitName(action.limit),
      config::FormatDuration(action.value), QuoteForLog(action.set_on), session.id,
      action.session->backend_pid(), QuoteForLog(session.user), LimitActionName(done),
      QuoteForLog(outcome));
}

}  // namespace pgvalve::admin
