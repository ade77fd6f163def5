#include "upstream/control_connections.h"

namespace pgvalve::upstream {
namespace {

bool SameTarget(const config::UpstreamConfig& a, const config::UpstreamConfig& b) {
  return a.host == b.host && a.port == b.port && a.control_user == b.control_user &&
         a.control_password == b.control_password && a.control_passfile == b.control_passfile &&
         a.control_dbname == b.control_dbname && a.connect_timeout == b.connect_timeout && a.tls == b.tls;
}

}  // namespace

std::shared_ptr<ControlConnection> ControlConnections::For(const config::UpstreamConfig& upstream) {
  auto& slot = connections_[upstream.name];
  if (!slot || !SameTarget(slot->upstream(), upstream)) {
    auto& terminations = terminations_[upstream.name];
    if (!terminations) terminations = std::make_shared<TerminationCounts>();
    slot = std::make_shared<ControlConnection>(executor_, upstream, terminations);
  }
  return slot;
}

std::map<std::string, TerminationCounts> ControlConnections::Terminations() const {
  std::map<std::string, TerminationCounts> counts;
  for (const auto& [name, terminations] : terminations_) counts.emplace(name, *terminations);
  return counts;
}

const ControlConnection* ControlConnections::Existing(const std::string& upstream_name) const {
  auto found = connections_.find(upstream_name);
  return found == connections_.end() ? nullptr : found->second.get();
}

}  // namespace pgvalve::upstream
