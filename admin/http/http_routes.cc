#include "admin/http/http_routes.h"

#include "admin/http/metrics_page.h"
#include "admin/http/metrics_text.h"
#include "admin/http/process_stats.h"
#include "proxy/json_text.h"

namespace pgvalve::admin {
namespace {

HttpReply Text(unsigned status, std::string body) {
  return HttpReply{.status = status, .body = std::move(body)};
}

HttpReply MethodNotAllowed(std::string_view allowed) {
  HttpReply reply = Text(405, "only " + std::string(allowed) + " served here\n");
  reply.headers.emplace_back("Allow", std::string(allowed));
  return reply;
}

HttpReply Unauthorized() {
  HttpReply reply = Text(401, "credentials of an admin user are required\n");
  reply.headers.emplace_back("WWW-Authenticate", "Basic realm=\"pgvalve\", charset=\"UTF-8\"");
  return reply;
}

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

// The commands served by POST, each at a path of its own.
constexpr std::string_view kReloadPath = "/v1/reload";

}  // namespace

proxy::Awaitable<HttpReply> HttpRoutes::Handle(const HttpRequest& request) {
  const std::string_view path = PathOf(request.target);
  if (path == kReloadPath) {
    if (request.method != HttpMethod::kPost) co_return MethodNotAllowed("POST");
    co_return co_await Command(request, "RELOAD");
  }
  if (request.method != HttpMethod::kGet && request.method != HttpMethod::kHead) {
    co_return MethodNotAllowed("GET, HEAD");
  }
  if (path == "/healthz") co_return Text(200, "ok\n");
  if (path == "/readyz") co_return co_await Ready();
  if (path == "/metrics") co_return Metrics(request);
  if (std::optional<std::string_view> statement = ViewStatement(path)) co_return co_await View(request, *statement);
  co_return Text(404, "not found; pgvalve serves /metrics, /healthz, /readyz and /v1/ views of SHOW commands\n");
}

proxy::Awaitable<HttpReply> HttpRoutes::Ready() {
  std::vector<UpstreamFailure> failures;
  if (std::optional<std::string> refusing = sources_.refusing_clients()) {
    failures.push_back({.upstream = "", .error = *std::move(refusing)});
  } else {
    failures = co_await readiness_.Check();
  }
  std::string fleet;
  if (sources_.fleet_problem) {
    if (std::optional<std::string> problem = sources_.fleet_problem()) {
      fleet = ",\"fleet\":" + proxy::JsonQuoted(*problem);
    }
  }
  if (failures.empty()) {
    co_return HttpReply{.status = 200,
                        .content_type = std::string(kJsonContentType),
                        .body = "{\"status\":\"ready\"" + fleet + "}\n"};
  }
  std::string body = "{\"status\":\"not ready\",\"failed\":[";
  for (size_t i = 0; i < failures.size(); ++i) {
    if (i > 0) body += ',';
    body += "{\"upstream\":" + proxy::JsonQuoted(failures[i].upstream) +
            ",\"error\":" + proxy::JsonQuoted(failures[i].error) + "}";
  }
  body += "]" + fleet + "}\n";
  co_return HttpReply{.status = 503, .content_type = std::string(kJsonContentType), .body = std::move(body)};
}

proxy::Awaitable<HttpReply> HttpRoutes::View(const HttpRequest& request, std::string_view statement) {
  const auto config = sources_.config.Current();
  std::optional<AuthenticatedUser> user = authenticator_.Authenticate(config, request.authorization);
  if (!user) co_return Unauthorized();
  const AdminCaller caller{
      .user = user->name, .role = user->role, .address = "http:" + std::string(request.client)};
  co_return co_await views_.Run(statement, caller);
}

proxy::Awaitable<HttpReply> HttpRoutes::Command(const HttpRequest& request, std::string_view statement) {
  if (request.has_body) co_return Text(400, "a command takes no body\n");
  if (request.has_origin) co_return Text(403, "a command is not taken from a browser's page (Origin header)\n");
  co_return co_await View(request, statement);
}

HttpReply HttpRoutes::Metrics(const HttpRequest& request) {
  const auto config = sources_.config.Current();
  // Either role may read: monitor users are meant for exactly this.
  if (config->http.metrics_auth && !authenticator_.Authenticate(config, request.authorization)) {
    return Unauthorized();
  }
  return HttpReply{
      .status = 200,
      .content_type = std::string(kMetricsContentType),
      .body = RenderMetrics({.sessions = sources_.sessions,
                             .events = sources_.events,
                             .worker_threads = sources_.worker_threads,
                             .databases = &sources_.databases,
                             .control = &sources_.control,
                             .drains = &sources_.drains,
                             .cutovers = &sources_.cutovers,
                             .limit_counters = &sources_.limit_counters},
                            ReadProcessStats()),
  };
}

}  // namespace pgvalve::admin
