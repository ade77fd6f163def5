#pragma once
// The admin console: its listeners (TCP and a unix socket, database
// "pgvalve"), the control connections to upstreams, the state file, and the
// HTTP endpoint (/metrics, /healthz, /readyz), which shares its users. It
// runs on the proxy's control thread, never on a relay worker.

#include "absl/status/status.h"
#include "admin/commands/command_context.h"
#include "admin/console/admin_credentials.h"
#include "admin/http/http_authenticator.h"
#include "admin/http/http_routes.h"
#include "admin/http/http_server.h"
#include "admin/http/upstream_readiness.h"
#include "admin/jobs/cutover_registry.h"
#include "admin/jobs/drain_registry.h"
#include "admin/jobs/limit_enforcer.h"
#include "admin/limits/limit_counters.h"
#include "admin/limits/runtime_limits.h"
#include "admin/state_store.h"
#include "fleet/fleet.h"
#include "proxy/listener.h"
#include "proxy/proxy_server.h"
#include "proxy/spare_descriptors.h"
#include "upstream/control_connections.h"

namespace pgvalve::admin {

class AdminServer {
 public:
  static constexpr int kSpareFds = 2;

  explicit AdminServer(proxy::ProxyServer& server);

  // Re-applies DISABLE/PAUSE and limits set with SET from the state file;
  // call before the proxy starts accepting clients.
  absl::Status RestoreState();
  // Starts enforcing limits and binds the admin and HTTP listeners; with
  // [fleet], joins the fleet, holding new clients until its shared state
  // is applied.
  absl::Status Start();
  // Runs `ready` once clients are admitted: now, or (a fleet member) once
  // the shared state has been applied.
  void WhenAdmitting(std::function<void()> ready);

  std::vector<uint16_t> ports() const { return listener_.tcp_ports(); }
  std::vector<uint16_t> http_ports() const { return http_.ports(); }

 private:
  absl::Status StartHttp(const config::Config& config);
  // InvalidArgument when etcd's TLS files cannot be read.
  absl::Status JoinFleet(const config::Config& config);
  // A CUTOVER another instance ran switched `database` to `upstream`: its
  // sessions here still on the old server are closed at their boundary.
  void CloseSessionsLeftBehind(const std::string& database, const std::string& upstream);
  void StartSession(proxy::ByteStream stream, proxy::ClientAddress address);

  proxy::ProxyServer& server_;
  upstream::ControlConnections control_;
  StateStore state_;
  AdminCredentials credentials_;
  DrainRegistry drains_;
  CutoverRegistry cutovers_;
  RuntimeLimits limits_;
  LimitCounters limit_counters_;
  // Runs whether or not the admin console is served: limits in the config
  // file hold without it.
  LimitEnforcer enforcer_;
  AdminServices services_;
  // Kept for the admin listener: the operator must get in even when the
  // process has run out of descriptors.
  proxy::SpareDescriptors spare_fds_{kSpareFds};
  proxy::Listener listener_;
  HttpAuthenticator http_authenticator_{credentials_};
  UpstreamReadiness readiness_;
  AdminViews views_{services_};
  HttpRoutes http_routes_;
  HttpServer http_;
  // With [fleet]: made once the client listeners are bound (its default
  // name holds their port).
  std::unique_ptr<fleet::Fleet> fleet_;
  std::vector<std::function<void()>> on_admitting_;
};

}  // namespace pgvalve::admin
