#include "proxy/listener.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "fmt/format.h"
#include "proxy/status_text.h"

namespace pgvalve::proxy {
namespace {

absl::Status BindError(const std::string& what, const error_code& error) {
  return UnavailableError(fmt::format("could not listen on {}: {}", what, error.message()));
}

// Transient accept failures (a client reset before accept, too many open
// files) must not stop the listener; they are logged and retried shortly.
bool IsFatalAcceptError(const error_code& error) {
  return error == asio::error::operation_aborted || error == asio::error::bad_descriptor;
}

bool IsOutOfDescriptors(const error_code& error) {
  return error == asio::error::no_descriptors ||
         error == error_code(ENFILE, asio::error::get_system_category());
}

// Long enough not to spin while descriptors are short, short enough that
// a client retrying does not notice.
constexpr std::chrono::milliseconds kAcceptBackoff{100};

}  // namespace

Listener::Listener(asio::io_context& accept_context, ContextPicker pick_context,
                   ConnectionHandler on_connection)
    : accept_context_(accept_context),
      pick_context_(std::move(pick_context)),
      on_connection_(std::move(on_connection)) {}

Listener::~Listener() { Stop(); }

absl::Status Listener::ListenTcp(const config::ListenAddress& address) {
  error_code error;
  tcp::resolver resolver(accept_context_);
  auto endpoints = resolver.resolve(address.host, std::to_string(address.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, error);
  if (error) return BindError(address.ToString(), error);
  for (const auto& entry : endpoints) {
    auto acceptor = std::make_unique<tcp::acceptor>(accept_context_);
    const tcp::endpoint endpoint = entry.endpoint();
    acceptor->open(endpoint.protocol(), error);
    if (!error) acceptor->set_option(asio::socket_base::reuse_address(true), error);
    if (!error) acceptor->bind(endpoint, error);
    if (!error) acceptor->listen(asio::socket_base::max_listen_connections, error);
    if (error) return BindError(address.ToString(), error);
    spdlog::info("listening on {}:{}", endpoint.address().to_string(),
                 acceptor->local_endpoint().port());
    tcp_acceptors_.push_back(std::move(acceptor));
  }
  return absl::OkStatus();
}

absl::Status Listener::ListenUnix(const std::string& directory, uint16_t port) {
  const std::string path = fmt::format("{}/.s.PGSQL.{}", directory, port);
  error_code error;
  if (std::filesystem::exists(path)) {
    unix_socket::socket probe(accept_context_);
    probe.connect(unix_socket::endpoint(path), error);
    if (!error) {
      return UnavailableError(fmt::format("could not listen on {}: another server is listening there", path));
    }
    ::unlink(path.c_str());  // stale file of an earlier run
  }
  auto acceptor = std::make_unique<unix_socket::acceptor>(accept_context_);
  acceptor->open(unix_socket(), error);
  if (!error) acceptor->bind(unix_socket::endpoint(path), error);
  if (!error) acceptor->listen(asio::socket_base::max_listen_connections, error);
  if (error) return BindError(path, error);
  // Like PostgreSQL's default unix_socket_permissions: access is decided by
  // authentication, not by the socket file.
  ::chmod(path.c_str(), 0777);
  spdlog::info("listening on {}", path);
  unix_acceptors_.push_back(std::move(acceptor));
  unix_paths_.push_back(path);
  return absl::OkStatus();
}

void Listener::Start() {
  for (auto& acceptor : tcp_acceptors_) {
    asio::co_spawn(accept_context_, AcceptTcp(*acceptor), asio::detached);
  }
  for (auto& acceptor : unix_acceptors_) {
    asio::co_spawn(accept_context_, AcceptUnix(*acceptor), asio::detached);
  }
}

void Listener::Stop() {
  error_code ignored;
  for (auto& acceptor : tcp_acceptors_) acceptor->close(ignored);
  for (auto& acceptor : unix_acceptors_) acceptor->close(ignored);
  for (const auto& path : unix_paths_) ::unlink(path.c_str());
  unix_paths_.clear();
}

std::vector<uint16_t> Listener::tcp_ports() const {
  std::vector<uint16_t> ports;
  error_code ignored;
  for (const auto& acceptor : tcp_acceptors_) ports.push_back(acceptor->local_endpoint(ignored).port());
  return ports;
}

namespace {

// Accepted on the accepting context, then handed over: a pending accept
// never owns a socket of another context, so shutting the listener down
// cannot leave one behind in a context that outlives its owner.
template <typename Socket>
auto MoveToContext(Socket accepted, const typename Socket::protocol_type& protocol, asio::io_context& context) {
  error_code error;
  asio::basic_stream_socket<typename Socket::protocol_type, IoContextExecutor> moved(context);
  auto handle = accepted.release(error);
  if (!error) moved.assign(protocol, handle, error);
  return moved;
}

}  // namespace

template <typename Acceptor, typename Describe>
Awaitable<void> Listener::AcceptLoop(Acceptor& acceptor, Describe describe_peer) {
  // Asked once: every accepted socket has the listening socket's protocol
  // (a getsockname per connection otherwise).
  error_code protocol_error;
  const auto protocol = acceptor.local_endpoint(protocol_error).protocol();
  while (acceptor.is_open()) {
    if (policy_.may_accept && !policy_.may_accept()) {
      if (!std::exchange(paused_by_policy_, true)) {
        spdlog::warn("not accepting new clients for now: too close to the file-descriptor limit");
      }
      co_await Pause();
      continue;
    }
    if (std::exchange(paused_by_policy_, false)) spdlog::info("accepting new clients again");
    // The peer's address comes with the accept (no getpeername).
    typename Acceptor::endpoint_type peer;
    auto [error, socket] = co_await acceptor.async_accept(peer, kUseTuple);
    if (IsOutOfDescriptors(error) && policy_.spare != nullptr) {
      // The connection is still waiting: take it with a spare descriptor,
      // without blocking in case it has gone meanwhile.
      policy_.spare->Release();
      error_code retry_error;
      acceptor.non_blocking(true, retry_error);
      if (!retry_error) socket = acceptor.accept(peer, retry_error);
      acceptor.non_blocking(false, retry_error);
      policy_.spare->Reacquire();
      error = socket.is_open() ? error_code() : error;
    }
    if (error) {
      if (IsFatalAcceptError(error)) co_return;
      LogRateLimiter::Decision log = accept_errors_.Admit();
      if (log.summary) spdlog::warn("{}", *log.summary);
      if (log.log) spdlog::warn("accept failed: {}", error.message());
      co_await Pause();
      continue;
    }
    ClientAddress address = describe_peer(peer);
    on_connection_(ByteStream(MoveToContext(std::move(socket), protocol, pick_context_())), std::move(address));
  }
}

Awaitable<void> Listener::Pause() {
  asio::steady_timer pause(accept_context_, kAcceptBackoff);
  co_await pause.async_wait(kUseTuple);
}

Awaitable<void> Listener::AcceptTcp(tcp::acceptor& acceptor) {
  return AcceptLoop(acceptor, [](const tcp::endpoint& peer) {
    return ClientAddress{peer.address().to_string(), peer.port()};
  });
}

Awaitable<void> Listener::AcceptUnix(unix_socket::acceptor& acceptor) {
  return AcceptLoop(acceptor, [](const unix_socket::endpoint&) { return ClientAddress{"unix", 0}; });
}

}  // namespace pgvalve::proxy
