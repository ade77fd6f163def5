#include "tests/e2e/in_process_proxy.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "proxy/status_text.h"
#include "tests/support/libpq_helpers.h"

namespace pgvalve::test {
namespace {

config::Config ConfigFor(const std::string& upstream_host, uint16_t upstream_port) {
  config::Config config;
  config.source = "<in-process e2e test>";
  config.proxy.listen = {config::ListenAddress{"127.0.0.1", 0}};
  config.proxy.workers = 2;
  config.admin.listen.clear();
  config::UpstreamConfig upstream;
  upstream.name = "main";
  upstream.host = upstream_host;
  upstream.port = upstream_port;
  config.upstreams.emplace(upstream.name, upstream);
  config.databases.emplace("*", config::DatabaseRoute{"*", upstream.name});
  return config;
}

}  // namespace

InProcessProxy::InProcessProxy(const std::string& upstream_host, uint16_t upstream_port) {
  // The proxy's session lines would drown the test output; warnings stay.
  spdlog::set_level(spdlog::level::warn);
  server_ = std::make_unique<proxy::ProxyServer>(ConfigFor(upstream_host, upstream_port), [] {
    return absl::StatusOr<config::Config>(absl::UnimplementedError("no reload in this test"));
  });
  if (absl::Status started = server_->Start(); !started.ok()) {
    throw std::runtime_error("ProxyServer::Start: " + std::string(proxy::StatusText(started)));
  }
  const std::vector<uint16_t> ports = server_->proxy_ports();
  if (ports.size() != 1 || ports.front() == 0) {
    server_->Shutdown(proxy::ShutdownMode::kFast);
    server_->Run();
    throw std::runtime_error("ProxyServer bound " + std::to_string(ports.size()) + " ports, not 1");
  }
  port_ = ports.front();
  runner_ = std::thread([this] { server_->Run(); });
}

InProcessProxy::~InProcessProxy() {
  server_->Shutdown(proxy::ShutdownMode::kFast);
  runner_.join();
}

std::string InProcessProxy::ConnString(std::string_view database, std::string_view user,
                                       std::string_view extra) const {
  std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port_) +
                         " dbname=" + QuoteConnInfoValue(database) +
                         " user=" + QuoteConnInfoValue(user);
  if (!extra.empty()) conninfo.append(" ").append(extra);
  return conninfo;
}

}  // namespace pgvalve::test
