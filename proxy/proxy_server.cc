#include "proxy/proxy_server.h"

#include <spdlog/spdlog.h>

#include <csignal>


#include "protocol/sqlstate.h"
#include "proxy/client_session.h"
#include "proxy/status_text.h"

namespace pgvalve::proxy {
namespace {
// How long a fast shutdown waits for sessions to say goodbye.
constexpr std::chrono::seconds kFastShutdownGrace{5};
// Floods are logged in full for the first lines of each interval, then
// counted; the count is logged when the interval is over.
constexpr uint32_t kFloodLogBurst = 10;
constexpr std::chrono::seconds kFloodLogInterval{10};

std::string_view RefusalText(StartupLimiter::Refusal refusal) {
  return refusal == StartupLimiter::Refusal::kPerAddress ? "max_startup_connections_per_address"
                                                         : "max_startup_connections";
}
}  // namespace

ProxyServer::ProxyServer(config::Config config, ConfigLoader reload)
    : config_(std::move(config)),
      reload_(std::move(reload)),
      refused_at_startup_log_("connections closed at the startup bounds", kFloodLogBurst,
                              kFloodLogInterval),
      bogus_cancel_log_("ignored cancel requests (unknown pid or wrong secret)", kFloodLogBurst,
                        kFloodLogInterval),
      access_(*config_.Current(), kFloodLogBurst, kFloodLogInterval),
      session_context_{config_,          sessions_, cancel_keys_, cancel_routes_, databases_,
                       bogus_cancel_log_, access_,  admission_,  events_,
                       [this](std::exception_ptr failure) { OnSessionEnded(failure); }},
      workers_(config_.Current()->proxy.workers),
      listener_(
          control_context_, [this]() -> asio::io_context& { return workers_.Next(); },
          [this](ByteStream stream, ClientAddress address) {
            StartSession(std::move(stream), std::move(address));
          }) {}

ProxyServer::~ProxyServer() {
  listener_.Stop();
  workers_.StopNow();
  workers_.Join();
}

absl::Status ProxyServer::Start() {
  // OpenSSL writes a TLS session's socket with write(2), which raises
  // SIGPIPE when the peer has gone; pgvalve's own writes use MSG_NOSIGNAL.
  // The error is what a session needs to hear, not a signal that ends the
  // process.
  std::signal(SIGPIPE, SIG_IGN);
  auto config = config_.Current();
  absl::StatusOr<std::shared_ptr<const tls::TlsContextSet>> tls = tls::TlsContextSet::Build(*config);
  if (!tls.ok()) return tls.status();
  config_.SetTls(*std::move(tls));
  for (const auto& address : config->proxy.listen) {
    if (absl::Status status = listener_.ListenTcp(address); !status.ok()) return status;
  }
  if (config->proxy.unix_socket_dir) {
    uint16_t port = config->proxy.listen.empty() ? 5432 : listener_.tcp_ports().front();
    if (absl::Status status = listener_.ListenUnix(*config->proxy.unix_socket_dir, port);
        !status.ok()) {
      return status;
    }
  }
  workers_.Start();
  fd_budget_.Measure();
  listener_.SetAcceptPolicy({.may_accept = [this] {
    return fd_budget_.Fits(live_connections_.load(std::memory_order_relaxed));
  }});
  listener_.Start();
  signals_ = std::make_unique<asio::signal_set>(control_context_, SIGINT, SIGTERM, SIGHUP);
  asio::co_spawn(control_context_, HandleSignals(), asio::detached);
  log_flush_timer_ = std::make_unique<asio::steady_timer>(control_context_);
  asio::co_spawn(control_context_, FlushLogSummaries(), asio::detached);
  spdlog::info(
      "pgvalve ready: {} worker threads, max_client_connections={}, max_startup_connections={} "
      "({} per address); file descriptors: limit {}, {} in use, room for {} connections",
      workers_.size(), config->proxy.max_client_connections, config->proxy.max_startup_connections,
      config->proxy.max_startup_connections_per_address, fd_budget_.limit(), fd_budget_.baseline(),
      fd_budget_.capacity());
  return absl::OkStatus();
}

void ProxyServer::Run() {
  control_context_.run();
  workers_.Join();
}

void ProxyServer::StartSession(ByteStream stream, ClientAddress address) {
  auto config = config_.Current();
  StartupLimiter::Entry entry =
      startup_limiter_.TryEnter(address.address, config->proxy.max_startup_connections,
                                config->proxy.max_startup_connections_per_address);
  if (entry.refusal != StartupLimiter::Refusal::kNone) {
    // Closed before its startup packet is read: answering it (53300) would
    // mean keeping the descriptor while waiting for the packet, which is
    // what the bound is there to prevent. The client sees the connection
    // closed.
    LogRateLimiter::Decision log = refused_at_startup_log_.Admit();
    if (log.summary) spdlog::warn("{}", *log.summary);
    if (log.log) {
      spdlog::warn("client {}: connection closed, {} ({}) reached", address.ToString(),
                   RefusalText(entry.refusal),
                   entry.refusal == StartupLimiter::Refusal::kPerAddress
                       ? config->proxy.max_startup_connections_per_address
                       : config->proxy.max_startup_connections);
    }
    stream.Close();
    return;
  }
  live_connections_.fetch_add(1, std::memory_order_relaxed);
  auto session = std::make_shared<ClientSession>(session_context_, std::move(stream), std::move(address));
  // The session keeps itself alive through its pending work until it ends.
  session->Start(std::move(entry.ticket));
}

void ProxyServer::OnSessionEnded(std::exception_ptr failure) {
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& error) {
      spdlog::error("session ended by an unexpected error: {}", error.what());
    }
  }
  OnConnectionEnded();
}

void ProxyServer::OnConnectionEnded() {
  if (live_connections_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    asio::post(control_context_, [this] { FinishIfIdle(); });
  }
}

void ProxyServer::FinishIfIdle() {
  if (!shutdown_ || live_connections_.load(std::memory_order_acquire) != 0 || stop_deferred_) return;
  spdlog::info("all sessions have ended; pgvalve stops");
  workers_.ReleaseWork();
  if (stop_holds_ == 0) return Stop();
  // An admin command is still answering (the KILL that ended the last
  // session, say): it gets its reply first, within a fast shutdown's grace.
  stop_deferred_ = true;
  deferred_stop_timer_ = std::make_unique<asio::steady_timer>(control_context_, kFastShutdownGrace);
  deferred_stop_timer_->async_wait([this](error_code error) {
    if (!error) Stop();
  });
}

std::shared_ptr<void> ProxyServer::HoldStop() {
  ++stop_holds_;
  return std::shared_ptr<void>(nullptr, [this](void*) {
    if (--stop_holds_ == 0 && stop_deferred_) Stop();
  });
}

void ProxyServer::Stop() {
  if (std::exchange(stopped_, true)) return;
  if (deferred_stop_timer_) deferred_stop_timer_->cancel();
  for (const auto& hook : stop_hooks_) hook();
  for (LogRateLimiter* log : {&refused_at_startup_log_, &bogus_cancel_log_, &access_.refusal_log()}) {
    if (std::optional<std::string> summary = log->TakeFinalSummary()) spdlog::warn("{}", *summary);
  }
  if (signals_) signals_->cancel();
  if (log_flush_timer_) log_flush_timer_->cancel();
  if (shutdown_timer_) shutdown_timer_->cancel();
  control_context_.stop();
}

void ProxyServer::CloseSessions(CloseWhen when, bool cancel_running) {
  for (const auto& record : sessions_.All()) {
    std::shared_ptr<SessionControl> control = record->control();
    if (!control) continue;
    std::string sqlstate(protocol::sqlstate::kAdminShutdown);
    std::string message = "terminating connection due to administrator command";
    // Closing the client's side alone would leave a running statement on
    // its backend until it next writes.
    if (cancel_running) {
      control->CloseAndCancelRunning(std::move(sqlstate), std::move(message));
    } else {
      control->Close(when, std::move(sqlstate), std::move(message));
    }
  }
}

void ProxyServer::StartShutdownTimeout(std::chrono::milliseconds timeout,
                                       std::chrono::milliseconds grace) {
  shutdown_timer_ = std::make_unique<asio::steady_timer>(control_context_, timeout);
  shutdown_timer_->async_wait([this, timeout, grace](error_code error) {
    if (error || shutdown_ != ShutdownMode::kSmart) return;
    spdlog::warn(
        "smart shutdown: shutdown_timeout ({} ms) has passed; closing {} sessions at their "
        "transaction boundary, the rest in {} ms",
        timeout.count(), sessions_.All().size(), grace.count());
    CloseSessions(CloseWhen::kTransactionBoundary, /*cancel_running=*/false);
    shutdown_timer_->expires_after(grace);
    shutdown_timer_->async_wait([this](error_code error) {
      if (!error && shutdown_ == ShutdownMode::kSmart) Shutdown(ShutdownMode::kFast);
    });
  });
}

Awaitable<void> ProxyServer::FlushLogSummaries() {
  while (log_flush_timer_) {
    log_flush_timer_->expires_after(std::chrono::seconds(1));
    auto [error] = co_await log_flush_timer_->async_wait(kUseTuple);
    if (error) co_return;
    for (LogRateLimiter* log : {&refused_at_startup_log_, &bogus_cancel_log_, &access_.refusal_log()}) {
      if (std::optional<std::string> summary = log->TakeSummary()) spdlog::warn("{}", *summary);
    }
  }
}

void ProxyServer::Shutdown(ShutdownMode mode) {
  asio::post(control_context_, [this, mode] {
    bool escalating = shutdown_ == ShutdownMode::kSmart && mode == ShutdownMode::kFast;
    if (shutdown_ && !escalating) return;
    shutdown_ = mode;
    listener_.Stop();
    service_.Stopping(mode == ShutdownMode::kSmart ? "smart shutdown: waiting for sessions to end"
                                                   : "fast shutdown: ending every session");
    if (mode == ShutdownMode::kSmart) {
      auto config = config_.Current();
      spdlog::info(
          "smart shutdown: no new connections; waiting up to {} ms (shutdown_timeout) for {} "
          "sessions to end; the admin console stays open",
          config->proxy.shutdown_timeout.count(), live_connections_.load());
      StartShutdownTimeout(config->proxy.shutdown_timeout, config->proxy.terminate_wait);
    } else {
      spdlog::info("fast shutdown: ending {} sessions", live_connections_.load());
      CloseSessions(CloseWhen::kNow, /*cancel_running=*/true);
      // Sessions still in startup are not in the registry; they get a short
      // grace, then the workers are stopped under them.
      auto timer = std::make_shared<asio::steady_timer>(control_context_, kFastShutdownGrace);
      timer->async_wait([this, timer](error_code) {
        spdlog::warn("fast shutdown: {} connections did not end in time; stopping",
                     live_connections_.load());
        workers_.StopNow();
        Stop();
      });
    }
    FinishIfIdle();
  });
}

absl::Status ProxyServer::Reload() {
  service_.Reloading();
  absl::Status reloaded = ReplaceConfig();
  service_.Ready(reloaded.ok() ? std::string("configuration reloaded")
                              : std::string("reload failed: ").append(StatusText(reloaded)));
  return reloaded;
}

absl::Status ProxyServer::ReplaceConfig() {
  absl::StatusOr<config::Config> next = reload_();
  if (!next.ok()) {
    spdlog::error("reload failed, keeping the current configuration: {}", StatusText(next.status()));
    return next.status();
  }
  // Certificates, keys and CA files are read again even when their names
  // did not change: replacing the files and reloading is how they rotate.
  absl::StatusOr<std::shared_ptr<const tls::TlsContextSet>> tls = tls::TlsContextSet::Build(*next);
  if (!tls.ok()) {
    spdlog::error("reload failed, keeping the current configuration: {}", StatusText(tls.status()));
    return tls.status();
  }
  config_.Replace(*std::move(next), *std::move(tls));
  access_.Update(*config_.Current());
  spdlog::info("configuration reloaded; running sessions keep their upstream and their TLS");
  return absl::OkStatus();
}

Awaitable<void> ProxyServer::HandleSignals() {
  while (signals_) {
    auto [error, signal] = co_await signals_->async_wait(kUseTuple);
    if (error) co_return;
    switch (signal) {
      case SIGHUP: (void)Reload(); break;
      case SIGTERM: Shutdown(ShutdownMode::kSmart); break;
      case SIGINT: Shutdown(ShutdownMode::kFast); break;
    }
  }
}

}  // namespace pgvalve::proxy
