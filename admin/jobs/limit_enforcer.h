#pragma once
// Holds sessions to their databases' limits. Once a second, on the control
// thread, it resolves the limits in effect (config file and SET), asks the
// LimitPlanner what is due from the sessions' timestamps, and carries it
// out: a CancelRequest, pg_terminate_backend through the upstream's control
// connection, or a close of an idle session. Nothing runs on a session's
// own path, so a session costs nothing more than its timestamps. Each
// action leaves one audit line and a count in LimitCounters.
//
// Used on the control thread only.

#include <chrono>
#include <memory>
#include <vector>

#include "admin/limits/limit_counters.h"
#include "admin/limits/limit_planner.h"
#include "admin/limits/runtime_limits.h"
#include "proxy/asio.h"
#include "proxy/proxy_context.h"
#include "proxy/session_registry.h"
#include "upstream/control_connections.h"

namespace pgvalve::admin {

class LimitEnforcer {
 public:
  static constexpr std::chrono::seconds kSweepInterval{1};

  LimitEnforcer(proxy::asio::any_io_executor executor, proxy::ConfigHolder& config,
                proxy::SessionRegistry& sessions, upstream::ControlConnections& control,
                const RuntimeLimits& runtime, LimitCounters& counters);

  void Start();
  // No further sweeps; actions already under way finish.
  void Stop();

 private:
  proxy::Awaitable<void> SweepEverySecond();
  void Sweep();
  void CarryOut(DueAction action, const config::Config& config);
  // Also what a terminate becomes without a control connection.
  proxy::Awaitable<void> Cancel(DueAction action);
  proxy::Awaitable<void> Terminate(DueAction action, config::UpstreamConfig upstream,
                                   std::chrono::milliseconds terminate_wait);
  void Close(const DueAction& action);
  void Audit(const DueAction& action, LimitAction done, std::string_view outcome);

  proxy::asio::any_io_executor executor_;
  proxy::ConfigHolder& config_;
  proxy::SessionRegistry& sessions_;
  upstream::ControlConnections& control_;
  const RuntimeLimits& runtime_;
  LimitCounters& counters_;
  LimitPlanner planner_;
  // The sessions of one sweep; a member only to keep its capacity.
  std::vector<std::shared_ptr<proxy::SessionRecord>> swept_;
  proxy::asio::steady_timer timer_;
  bool running_ = false;
};

}  // namespace pgvalve::admin
