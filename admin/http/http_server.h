#pragma once
// The HTTP endpoint ([http] listen): HTTP/1.1 over Boost.Beast on the
// control thread, beside the admin console, answering what HttpRoutes
// decides; over TLS with [http] tls. Bounded whatever clients send: a request is its header only (at
// most kMaxHeaderBytes; a body is refused), a connection that sends
// nothing for kIdleTimeout is closed, and at most kMaxConnections are
// served at once (more are closed at accept).

#include <chrono>
#include <cstddef>
#include <memory>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "admin/http/http_limits.h"
#include "admin/http/http_routes.h"
#include "config/config.h"
#include "proxy/asio.h"
#include "proxy/client_address.h"
#include "proxy/listener.h"
#include "proxy/proxy_context.h"

namespace pgvalve::admin {

class HttpServer {
 public:
  static constexpr size_t kMaxConnections = 64;
  static constexpr size_t kMaxHeaderBytes = kMaxHttpHeaderBytes;
  static constexpr std::chrono::seconds kIdleTimeout{30};

  HttpServer(proxy::asio::io_context& context, HttpRoutes& routes, const proxy::ConfigHolder& config);
  ~HttpServer();

  // Binds now, so errors (address in use) surface at start-up.
  absl::Status Listen(const std::vector<config::ListenAddress>& addresses);
  void Start();
  // Closes the listening sockets and the connections being served.
  void Stop();

  std::vector<uint16_t> ports() const { return listener_.tcp_ports(); }

  // One client's connection, plain or TLS (http_server.cc).
  class Connection;

 private:
  void OnConnection(proxy::ByteStream stream, const proxy::ClientAddress& address);

  proxy::asio::io_context& context_;
  HttpRoutes& routes_;
  const proxy::ConfigHolder& config_;
  proxy::Listener listener_;
  // Those being served, for Stop; each removes itself when it ends.
  std::set<std::shared_ptr<Connection>> connections_;
  bool stopped_ = false;
};

}  // namespace pgvalve::admin
