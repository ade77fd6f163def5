#pragma once
// Whether the upstreams that sessions would be routed to can be reached the
// way a session reaches them: resolved, connected within connect_timeout
// (at most kProbeTimeout here) and TLS negotiated as server_tls_sslmode
// asks, then closed before any startup packet (PostgreSQL logs nothing
// for a plain connection that ends there). For GET /readyz: probes run when asked, and a result younger than
// kProbeInterval is reused, so a busy load balancer does not become a
// connection storm on the upstreams.

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "proxy/asio.h"
#include "proxy/database_registry.h"
#include "proxy/proxy_context.h"

namespace pgvalve::admin {

struct UpstreamFailure {
  std::string upstream;
  std::string error;
};

// Control thread only.
class UpstreamReadiness {
 public:
  static constexpr std::chrono::milliseconds kProbeTimeout{2000};
  static constexpr std::chrono::milliseconds kProbeInterval{1000};

  UpstreamReadiness(proxy::ConfigHolder& config, proxy::DatabaseRegistry& databases)
      : config_(config), databases_(databases) {}

  // The routed upstreams whose last probe failed; empty when all answered.
  proxy::Awaitable<std::vector<UpstreamFailure>> Check();

 private:
  // Every upstream some database is routed to now: by the configuration,
  // or by a SWITCH or CUTOVER. A route the configuration cannot serve any
  // more is a failure of its own.
  std::set<std::string> RoutedUpstreams(const config::Config& config, std::vector<UpstreamFailure>& failures) const;
  proxy::Awaitable<absl::Status> Probe(const config::UpstreamConfig& upstream);

  struct LastProbe {
    std::chrono::steady_clock::time_point at;
    absl::Status result;
  };

  proxy::ConfigHolder& config_;
  proxy::DatabaseRegistry& databases_;
  std::map<std::string, LastProbe> last_probes_;
};

}  // namespace pgvalve::admin
