#pragma once
// One control connection per upstream, opened on first use and replaced
// when a reload changed what it connects to.

#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "proxy/asio.h"
#include "upstream/control_connection.h"

namespace pgvalve::upstream {

class ControlConnections {
 public:
  explicit ControlConnections(proxy::asio::any_io_executor executor)
      : executor_(std::move(executor)) {}

  // The connection for `upstream` as currently configured. Shared, so a
  // command still using it when a reload replaces it keeps it alive.
  std::shared_ptr<ControlConnection> For(const config::UpstreamConfig& upstream);
  // The connection of that name if one was opened; nullptr otherwise.
  const ControlConnection* Existing(const std::string& upstream_name) const;

  // By upstream name, over every connection it had: a reload that
  // replaces a connection does not reset them.
  std::map<std::string, TerminationCounts> Terminations() const;

 private:
  proxy::asio::any_io_executor executor_;
  std::map<std::string, std::shared_ptr<ControlConnection>> connections_;
  std::map<std::string, std::shared_ptr<TerminationCounts>> terminations_;
};

}  // namespace pgvalve::upstream
