#pragma once
// A pgvalve ProxyServer inside the test process, in front of a real
// PostgreSQL, for tests that look at state the pgvalve binary keeps to
// itself (the session registry, the cancel keys).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "proxy/proxy_server.h"

namespace pgvalve::test {

class InProcessProxy {
 public:
  // Listens on 127.0.0.1 on a port the kernel picks and routes every
  // database to the upstream "main" at host:port. Throws std::runtime_error
  // when the server cannot start.
  InProcessProxy(const std::string& upstream_host, uint16_t upstream_port);
  // Fast shutdown, then waits for the server's threads. Close client
  // connections first so that no session is cut short.
  ~InProcessProxy();
  InProcessProxy(const InProcessProxy&) = delete;
  InProcessProxy& operator=(const InProcessProxy&) = delete;

  uint16_t port() const { return port_; }
  proxy::ProxyServer& server() { return *server_; }

  std::string ConnString(std::string_view database, std::string_view user,
                         std::string_view extra = "") const;

 private:
  std::unique_ptr<proxy::ProxyServer> server_;
  std::thread runner_;
  uint16_t port_ = 0;
};

}  // namespace pgvalve::test
