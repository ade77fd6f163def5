#pragma once
// Accepting connections on TCP addresses and on a PostgreSQL-style unix
// socket (DIR/.s.PGSQL.PORT), handing each to a callback. Used for both the
// proxy and the admin ports.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "config/config.h"
#include "proxy/asio.h"
#include "proxy/byte_stream.h"
#include "proxy/client_address.h"
#include "proxy/log_rate_limiter.h"
#include "proxy/spare_descriptors.h"

namespace pgvalve::proxy {

class Listener {
 public:
  // Chooses the io_context an accepted connection will live on.
  using ContextPicker = std::function<asio::io_context&()>;
  using ConnectionHandler = std::function<void(ByteStream, ClientAddress)>;

  Listener(asio::io_context& accept_context, ContextPicker pick_context,
           ConnectionHandler on_connection);
  ~Listener();

  // What a listener may do when descriptors run short; set before Start.
  struct AcceptPolicy {
    // Asked before each accept; while false, accepting pauses briefly and
    // connections wait in the kernel's backlog.
    std::function<bool()> may_accept;
    // Given up for one accept when it fails for lack of descriptors (EMFILE
    // or ENFILE); not owned.
    SpareDescriptors* spare = nullptr;
  };
  void SetAcceptPolicy(AcceptPolicy policy) { policy_ = std::move(policy); }

  // Binds now, so errors (address in use) surface at start-up.
  absl::Status ListenTcp(const config::ListenAddress& address);
  // Binds DIR/.s.PGSQL.PORT, replacing a stale socket file but never a live one.
  absl::Status ListenUnix(const std::string& directory, uint16_t port);

  void Start();
  // Closes the listening sockets and removes unix socket files.
  void Stop();

  // The TCP ports actually bound (useful when the configured port is 0).
  std::vector<uint16_t> tcp_ports() const;

 private:
  template <typename Acceptor, typename Describe>
  Awaitable<void> AcceptLoop(Acceptor& acceptor, Describe describe_peer);
  Awaitable<void> AcceptTcp(tcp::acceptor& acceptor);
  Awaitable<void> AcceptUnix(unix_socket::acceptor& acceptor);
  Awaitable<void> Pause();

  asio::io_context& accept_context_;
  ContextPicker pick_context_;
  ConnectionHandler on_connection_;
  AcceptPolicy policy_;
  bool paused_by_policy_ = false;
  LogRateLimiter accept_errors_{"accept failures", 3, std::chrono::seconds(10)};
  std::vector<std::unique_ptr<tcp::acceptor>> tcp_acceptors_;
  std::vector<std::unique_ptr<unix_socket::acceptor>> unix_acceptors_;
  std::vector<std::string> unix_paths_;
};

}  // namespace pgvalve::proxy
