#pragma once
// Puts the proxy together: configuration, worker threads, listeners, the
// session registry and cancel keys, signals, and shutdown.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/config.h"
#include "proxy/access_control.h"
#include "proxy/admission_hold.h"
#include "proxy/asio.h"
#include "proxy/cancel_key_map.h"
#include "proxy/cancel_routes.h"
#include "proxy/database_registry.h"
#include "proxy/fd_budget.h"
#include "proxy/listener.h"
#include "proxy/log_rate_limiter.h"
#include "proxy/proxy_context.h"
#include "proxy/process_control.h"
#include "proxy/service_notifier.h"
#include "proxy/session_record.h"
#include "proxy/session_registry.h"
#include "proxy/startup_limiter.h"
#include "proxy/worker_pool.h"

namespace pgvalve::proxy {

class ProxyServer final : public ProcessControl {
 public:
  // `reload` rebuilds the configuration from its sources (SIGHUP, RELOAD).
  using ConfigLoader = std::function<absl::StatusOr<config::Config>()>;

  ProxyServer(config::Config config, ConfigLoader reload);
  ~ProxyServer();

  // Binds every listener and starts the workers; errors name the address.
  absl::Status Start();
  // Runs the control thread (accepting, signals) until shutdown completes.
  void Run();
  // Thread-safe.
  void Shutdown(ShutdownMode mode) override;
  absl::Status Reload() override;
  std::shared_ptr<void> HoldStop() override;
  // Runs on the control thread when pgvalve stops, at the end of a
  // shutdown: the admin console stays open until then, so that an operator
  // can see and end what holds a smart shutdown open.
  void AddStopHook(std::function<void()> hook) { stop_hooks_.push_back(std::move(hook)); }

  SessionRegistry& sessions() { return sessions_; }
  CancelKeyMap& cancel_keys() { return cancel_keys_; }
  CancelRoutes& cancel_routes() { return cancel_routes_; }
  DatabaseRegistry& databases() { return databases_; }
  ConfigHolder& config() { return config_; }
  AccessControl& access() { return access_; }
  // Held by whoever must act before clients are admitted (a fleet member).
  AdmissionHold& admission() { return admission_; }
  const ProxyEvents& events() const { return events_; }
  // systemd's notifications: Reload and Shutdown send theirs; whoever
  // starts the last listener says READY.
  ServiceNotifier& service() { return service_; }
  asio::io_context& control_context() { return control_context_; }
  std::vector<uint16_t> proxy_ports() const { return listener_.tcp_ports(); }
  size_t worker_threads() const { return workers_.size(); }
  // A shutdown has begun: no new clients are accepted. Control thread only.
  bool shutting_down() const { return shutdown_.has_value(); }

 private:
  void StartSession(ByteStream stream, ClientAddress address);
  // A session's connection closed (ProxyContext::session_ended).
  void OnSessionEnded(std::exception_ptr failure);
  void OnConnectionEnded();
  Awaitable<void> HandleSignals();
  // Reload's work: the new configuration and TLS contexts, or nothing.
  absl::Status ReplaceConfig();
  void FinishIfIdle();
  void Stop();
  // Asks every registered session to close; with `cancel_running`, now
  // (whatever `when` says), and a running statement is also cancelled on
  // its backend.
  void CloseSessions(CloseWhen when, bool cancel_running);
  void StartShutdownTimeout(std::chrono::milliseconds timeout, std::chrono::milliseconds grace);
  // Logs what rate-limited log lines have held back.
  Awaitable<void> FlushLogSummaries();

  ConfigHolder config_;
  ConfigLoader reload_;
  SessionRegistry sessions_;
  CancelKeyMap cancel_keys_;
  CancelRoutes cancel_routes_;
  DatabaseRegistry databases_;
  // Before the workers: sessions refer to these until their frames go.
  StartupLimiter startup_limiter_;
  FdBudget fd_budget_;
  LogRateLimiter refused_at_startup_log_;
  LogRateLimiter bogus_cancel_log_;
  AccessControl access_;
  AdmissionHold admission_;
  ProxyEvents events_;
  ServiceNotifier service_;
  // What every session refers to: the members above and the end of a
  // session reported back here.
  ProxyContext session_context_;
  // HoldStop's guards alive; a stop they put off; Stop has run. Before
  // the control context: a guard in an admin session's frame is released
  // when the context destroys the frame.
  int stop_holds_ = 0;
  bool stop_deferred_ = false;
  bool stopped_ = false;
  asio::io_context control_context_{1};
  WorkerPool workers_;
  Listener listener_;
  std::unique_ptr<asio::signal_set> signals_;
  std::unique_ptr<asio::steady_timer> log_flush_timer_;
  std::unique_ptr<asio::steady_timer> shutdown_timer_;

  // Connections accepted and not yet finished, including those still in
  // startup (which the registry does not list yet).
  std::atomic<uint64_t> live_connections_{0};
  std::optional<ShutdownMode> shutdown_;
  std::vector<std::function<void()>> stop_hooks_;
  std::unique_ptr<asio::steady_timer> deferred_stop_timer_;
};

}  // namespace pgvalve::proxy
