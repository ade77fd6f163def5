#include "admin/console/admin_server.h"

#include <spdlog/spdlog.h>

#include "fmt/chrono.h"
#include "fmt/format.h"
#include "pgvalve_version.h"
#include "proxy/status_text.h"

#include "admin/console/admin_session.h"
#include "admin/jobs/fleet_cutover.h"
#include "admin/jobs/fleet_drain.h"

namespace pgvalve::admin {

AdminServer::AdminServer(proxy::ProxyServer& server)
    : server_(server),
      control_(server.control_context().get_executor()),
      state_(server.config().Current()->admin.state_file),
      enforcer_(server.control_context().get_executor(), server.config(), server.sessions(),
                control_, limits_, limit_counters_),
      services_{server_.sessions(), server_.databases(), server_.config(), server_, control_, state_,
                credentials_, drains_, cutovers_, limits_, limit_counters_, server_.access()},
      listener_(
          server.control_context(),
          [&context = server.control_context()]() -> proxy::asio::io_context& { return context; },
          [this](proxy::ByteStream stream, proxy::ClientAddress address) {
            StartSession(std::move(stream), std::move(address));
          }),
      readiness_(server.config(), server.databases()),
      http_routes_({.config = server.config(),
                    .sessions = server.sessions(),
                    .events = server.events(),
                    .databases = server.databases(),
                    .control = control_,
                    .drains = drains_,
                    .cutovers = cutovers_,
                    .limit_counters = limit_counters_,
                    .worker_threads = server.worker_threads(),
                    .refusing_clients = [&server]() -> std::optional<std::string> {
                      if (server.shutting_down()) return "pgvalve is shutting down and accepts no new clients";
                      return server.admission().reason();
                    },
                    .fleet_problem = [this]() -> std::optional<std::string> {
                      if (!fleet_ || fleet_->health().connected) return std::nullopt;
                      return fleet_->health().problem;
                    }},
                   http_authenticator_, readiness_, views_),
      http_(server.control_context(), http_routes_, server.config()) {
  listener_.SetAcceptPolicy({.spare = &spare_fds_});
  server_.AddStopHook([this] {
    listener_.Stop();
    http_.Stop();
    enforcer_.Stop();
    // A graceful stop leaves the fleet now rather than when its lease
    // expires: commands stop waiting for it at once.
    if (fleet_) {
      fleet_->Stop();
      fleet_->Leave();
    }
  });
}

absl::Status AdminServer::RestoreState() {
  if (!state_.path()) {
    spdlog::warn(
        "admin.state_file is not set: DISABLE, PAUSE and SET limits will not survive a restart");
    return absl::OkStatus();
  }
  absl::Status loaded = state_.Load(server_.databases(), limits_);
  if (loaded.ok()) spdlog::info("runtime state restored from {}", *state_.path());
  return loaded;
}

absl::Status AdminServer::Start() {
  enforcer_.Start();
  auto config = server_.config().Current();
  if (absl::Status joined = JoinFleet(*config); !joined.ok()) return joined;
  if (absl::Status http = StartHttp(*config); !http.ok()) return http;
  if (config->admin.users.empty()) {
    spdlog::warn("admin console off: no [[admin.users]] configured");
    return absl::OkStatus();
  }
  for (const auto& address : config->admin.listen) {
    if (absl::Status status = listener_.ListenTcp(address); !status.ok()) return status;
  }
  if (config->admin.unix_socket_dir && !config->admin.listen.empty()) {
    if (absl::Status status =
            listener_.ListenUnix(*config->admin.unix_socket_dir, listener_.tcp_ports().front());
        !status.ok()) {
      return status;
    }
  }
  listener_.Start();
  return absl::OkStatus();
}

absl::Status AdminServer::StartHttp(const config::Config& config) {
  if (config.http.listen.empty()) return absl::OkStatus();
  if (absl::Status status = http_.Listen(config.http.listen); !status.ok()) return status;
  if (config.http.metrics_auth && config.admin.users.empty()) {
    spdlog::warn("/metrics needs an admin user's credentials and none is configured: add [[admin.users]] "
                 "or set [http] metrics_auth = false");
  }
  http_.Start();
  return absl::OkStatus();
}

absl::Status AdminServer::JoinFleet(const config::Config& config) {
  if (!config.fleet.enabled()) return absl::OkStatus();
  const std::vector<uint16_t> ports = server_.proxy_ports();
  const uint16_t port = ports.empty() ? 0 : ports.front();
  absl::StatusOr<fleet::FleetOptions> read = fleet::FleetOptionsFrom(config.fleet, port);
  if (!read.ok()) return read.status();
  fleet::FleetOptions options = *std::move(read);
  const std::string address = fleet::AdvertisedAddress(config, port);
  // As the console shows times (ResultSet::Row::Time).
  const auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  const std::string started = fmt::format("{:%Y-%m-%d %H:%M:%S}+00", now);
  const std::string id = options.instance_id;
  fleet_ = std::make_unique<fleet::Fleet>(
      server_.control_context().get_executor(), std::move(options), config.fleet.ack_timeout,
      fleet::Fleet::ProxyParts{server_.databases(), server_.cancel_keys(), server_.cancel_routes()},
      [this, id, address, started] {
        return fleet::InstanceRecord{.id = id,
                                     .address = address,
                                     .version = std::string(kVersion),
                                     .sessions = server_.sessions().size(),
                                     .started = started};
      });
  services_.fleet = fleet_.get();
  // The state file says what is in force here, wherever it was set.
  fleet_->SetOnStateApplied([this] {
    if (absl::Status saved = state_.Save(server_.databases(), limits_); !saved.ok()) {
      spdlog::error("state file not written: {}", proxy::StatusText(saved));
    }
  });
  // Another instance's DRAIN or CUTOVER: this one does the same to its own
  // sessions and reports.
  fleet_->SetOnJob([this](std::string_view kind, const std::string& document) {
    if (kind == fleet::kDrainJob) {
      if (absl::StatusOr<fleet::FleetDrain> drain = fleet::DecodeDrain(document); drain.ok()) {
        proxy::asio::co_spawn(server_.control_context(), FollowFleetDrain(services_, *std::move(drain)),
                              proxy::asio::detached);
      }
    } else if (kind == fleet::kCutoverJob) {
      if (absl::StatusOr<fleet::FleetCutover> cutover = fleet::DecodeCutover(document); cutover.ok()) {
        proxy::asio::co_spawn(server_.control_context(), FollowFleetCutover(services_, *std::move(cutover)),
                              proxy::asio::detached);
      }
    }
  });
  fleet_->SetOnCutoverSwitch([this](const std::string& database, const std::string& upstream) {
    CloseSessionsLeftBehind(database, upstream);
  });
  // Not a client before the fleet's state is applied: a database disabled
  // fleet-wide must be refused from the first connection on.
  server_.admission().Hold("it has not yet read the fleet's shared state from etcd");
  fleet_->Start([this] {
    server_.admission().Release();
    for (auto& ready : on_admitting_) ready();
    on_admitting_.clear();
  });
  return absl::OkStatus();
}

void AdminServer::CloseSessionsLeftBehind(const std::string& database, const std::string& upstream) {
  const std::string message = fmt::format(
      "terminating connection: database \"{}\" moved to another server (cutover on another instance); reconnect",
      database);
  size_t closed = 0;
  for (const auto& session : SessionsOf(server_.sessions(), database)) {
    if (session->upstream() == upstream) continue;
    // Held before it connected anywhere: released to the new route.
    if (session->state() == proxy::SessionState::kHeld && session->backend_pid() == 0) continue;
    if (auto control = session->control()) {
      // Posted before the RESUME that follows reaches the session's
      // executor: a held request of this session gets the FATAL, not the
      // old server.
      control->Close(proxy::CloseWhen::kTransactionBoundary, "57P01", message);
      ++closed;
    }
  }
  spdlog::info("fleet: database {} moved to upstream {}: {} session(s) left on the old server closed at their "
               "boundary", database, upstream, closed);
}

void AdminServer::WhenAdmitting(std::function<void()> ready) {
  if (server_.admission().reason()) {
    on_admitting_.push_back(std::move(ready));
  } else {
    ready();
  }
}

void AdminServer::StartSession(proxy::ByteStream stream, proxy::ClientAddress address) {
  auto session = std::make_shared<AdminSession>(services_, std::move(stream), std::move(address));
  proxy::asio::co_spawn(
      server_.control_context(), [session] { return session->Run(); },
      [](std::exception_ptr failure) {
        if (!failure) return;
        try {
          std::rethrow_exception(failure);
        } catch (const std::exception& error) {
          spdlog::error("admin session ended by an unexpected error: {}", error.what());
        }
      });
}

}  // namespace pgvalve::admin
