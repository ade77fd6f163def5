#include "proxy/current_route.h"

#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"

namespace pgvalve::proxy {

absl::StatusOr<const config::UpstreamConfig*> CurrentRoute(const config::Config& config,
                                                            const DatabaseGate& gate) {
  std::optional<RouteSwitch> route_switch = gate.route_switch();
  if (!route_switch) return config.UpstreamFor(gate.name());
  auto upstream = config.upstreams.find(route_switch->upstream);
  if (upstream == config.upstreams.end()) {
    return protocol::ErrorWithSqlState(
        protocol::sqlstate::kConnectionFailure,
        fmt::format("database \"{}\" is switched to upstream \"{}\", which the configuration no longer has",
                    gate.name(), route_switch->upstream));
  }
  return &upstream->second;
}

}  // namespace pgvalve::proxy
