#pragma once
// What the HTTP endpoint answers, apart from HTTP itself (http_server.h):
//   GET /healthz   200 while the process serves; no credentials.
//   GET /readyz    200 while pgvalve accepts clients and every routed
//                  upstream answered its last probe (upstream_readiness.h),
//                  else 503 with a JSON body naming what failed; no
//                  credentials, as load balancers and orchestrators ask.
//                  A fleet member whose etcd is unreachable still serves
//                  (fail static): 200, with "fleet" saying so.
//   GET /metrics   Prometheus's text format (metrics_page.h); an admin
//                  user of either role, unless [http] metrics_auth = false.
//   GET /v1/...    SHOW commands as JSON (admin_views.h); an admin user,
//                  whose role the command's own check applies to.
//   POST /v1/reload  RELOAD, as the console runs it: the admin role (a
//                  monitor user gets 403), no body, and no Origin header,
//                  which every browser sends with a cross-site POST: a
//                  page must not make a logged-in browser act.
// HEAD is answered as GET without the body; other methods get 405.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admin/http/admin_views.h"
#include "admin/http/http_authenticator.h"
#include "admin/http/http_reply.h"
#include "admin/http/upstream_readiness.h"
#include "admin/jobs/cutover_registry.h"
#include "admin/jobs/drain_registry.h"
#include "admin/limits/limit_counters.h"
#include "proxy/asio.h"
#include "proxy/proxy_context.h"
#include "proxy/session_registry.h"
#include "upstream/control_connections.h"

namespace pgvalve::admin {

enum class HttpMethod { kGet, kHead, kPost, kOther };

struct HttpRequest {
  HttpMethod method = HttpMethod::kGet;
  // As sent: a path, maybe with a query string.
  std::string_view target;
  // The Authorization header's value; empty when there is none.
  std::string_view authorization;
  // An Origin header came with it (a browser's request).
  bool has_origin = false;
  // A body came with it; the endpoint never reads one.
  bool has_body = false;
  // "127.0.0.1:51234", for the audit line of a view.
  std::string_view client;
};

struct HttpRouteSources {
  proxy::ConfigHolder& config;
  const proxy::SessionRegistry& sessions;
  const proxy::ProxyEvents& events;
  const proxy::DatabaseRegistry& databases;
  const upstream::ControlConnections& control;
  const DrainRegistry& drains;
  const CutoverRegistry& cutovers;
  const LimitCounters& limit_counters;
  size_t worker_threads = 0;
  // Why pgvalve admits no new clients now (a shutdown; a fleet member
  // that has not read the shared state yet); nullopt while it does.
  std::function<std::optional<std::string>()> refusing_clients;
  // A fleet's trouble that does not stop clients (etcd unreachable, the
  // state kept as last applied); nullopt without one. May be unset.
  std::function<std::optional<std::string>()> fleet_problem;
};

// Control thread only.
class HttpRoutes {
 public:
  HttpRoutes(HttpRouteSources sources, HttpAuthenticator& authenticator, UpstreamReadiness& readiness,
             AdminViews& views)
      : sources_(std::move(sources)), authenticator_(authenticator), readiness_(readiness), views_(views) {}

  proxy::Awaitable<HttpReply> Handle(const HttpRequest& request);

 private:
  proxy::Awaitable<HttpReply> Ready();
  HttpReply Metrics(const HttpRequest& request);
  proxy::Awaitable<HttpReply> View(const HttpRequest& request, std::string_view statement);
  proxy::Awaitable<HttpReply> Command(const HttpRequest& request, std::string_view statement);

  HttpRouteSources sources_;
  HttpAuthenticator& authenticator_;
  UpstreamReadiness& readiness_;
  AdminViews& views_;
};

}  // namespace pgvalve::admin
