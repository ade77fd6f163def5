#include "admin/http/upstream_readiness.h"

#include <algorithm>

#include "proxy/current_route.h"
#include "proxy/status_text.h"
#include "proxy/upstream_connector.h"

namespace pgvalve::admin {

std::set<std::string> UpstreamReadiness::RoutedUpstreams(const config::Config& config,
                                                         std::vector<UpstreamFailure>& failures) const {
  std::set<std::string> routed;
  for (const auto& [name, route] : config.databases) routed.insert(route.upstream);
  for (const auto& gate : databases_.All()) {
    absl::StatusOr<const config::UpstreamConfig*> route = proxy::CurrentRoute(config, *gate);
    if (!route.ok()) {
      failures.push_back({.upstream = "", .error = std::string(proxy::StatusText(route.status()))});
    } else if (*route != nullptr) {
      routed.insert((*route)->name);
    }
  }
  return routed;
}

proxy::Awaitable<absl::Status> UpstreamReadiness::Probe(const config::UpstreamConfig& upstream) {
  config::UpstreamConfig bounded = upstream;
  bounded.connect_timeout = std::min<config::Duration>(upstream.connect_timeout, kProbeTimeout);
  auto tls = config_.Tls();
  absl::StatusOr<proxy::UpstreamConnection> connection =
      co_await proxy::ConnectUpstream(bounded, tls->upstream(upstream.name));
  if (!connection.ok()) co_return connection.status();
  connection->stream.Close();
  co_return absl::OkStatus();
}

proxy::Awaitable<std::vector<UpstreamFailure>> UpstreamReadiness::Check() {
  const auto config = config_.Current();
  std::vector<UpstreamFailure> failures;
  for (const std::string& name : RoutedUpstreams(*config, failures)) {
    auto upstream = config->upstreams.find(name);
    if (upstream == config->upstreams.end()) continue;  // Validate rejects such a route
    const auto now = std::chrono::steady_clock::now();
    auto last = last_probes_.find(name);
    if (last == last_probes_.end() || now - last->second.at >= kProbeInterval) {
      absl::Status result = co_await Probe(upstream->second);
      last = last_probes_.insert_or_assign(name, LastProbe{std::chrono::steady_clock::now(), std::move(result)})
                 .first;
    }
    if (!last->second.result.ok()) {
      failures.push_back({.upstream = name, .error = std::string(proxy::StatusText(last->second.result))});
    }
  }
  co_return failures;
}

}  // namespace pgvalve::admin
