#include "proxy/upstream_connector.h"

#include <boost/asio/connect.hpp>

#include "fmt/format.h"
#include "protocol/message_writer.h"
#include "protocol/startup_packet.h"
#include "proxy/tls_handshake.h"
#include "proxy/deadline.h"
#include "proxy/status_text.h"

namespace pgvalve::proxy {
namespace {

using namespace asio::experimental::awaitable_operators;

absl::Status ConnectError(std::string_view what, const std::string& reason) {
  return UnavailableError(fmt::format("could not connect to {}: {}", what, reason));
}

std::string TimeoutText(std::chrono::milliseconds timeout) {
  return fmt::format("timed out after {} ms", timeout.count());
}

// Connects a socket of the endpoint's kind; the error is only the reason.
template <typename Socket, typename Endpoint>
Awaitable<absl::StatusOr<ByteStream>> ConnectSocket(const Endpoint& endpoint,
                                                    std::chrono::milliseconds timeout) {
  Socket socket(ToIoContextExecutor(co_await asio::this_coro::executor));
  auto outcome = co_await (socket.async_connect(endpoint, kUseTuple) || SleepFor(timeout));
  if (outcome.index() == 1) co_return UnavailableError(TimeoutText(timeout));
  if (auto [error] = std::get<0>(outcome); error) co_return UnavailableError(error.message());
  co_return ByteStream(std::move(socket));
}

Awaitable<absl::StatusOr<ByteStream>> ConnectWithin(const UpstreamEndpoint& endpoint,
                                                    std::chrono::milliseconds timeout) {
  if (const auto* tcp_endpoint = std::get_if<tcp::endpoint>(&endpoint)) {
    co_return co_await ConnectSocket<TcpStream>(*tcp_endpoint, timeout);
  }
  co_return co_await ConnectSocket<UnixStream>(std::get<unix_socket::endpoint>(endpoint), timeout);
}

}  // namespace

std::string Describe(const UpstreamEndpoint& endpoint) {
  if (const auto* tcp_endpoint = std::get_if<tcp::endpoint>(&endpoint)) {
    const auto& address = tcp_endpoint->address();
    return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), tcp_endpoint->port())
                           : fmt::format("{}:{}", address.to_string(), tcp_endpoint->port());
  }
  return std::get<unix_socket::endpoint>(endpoint).path();
}

std::shared_ptr<const UpstreamEndpoint> SharedEndpoint(UpstreamEndpoint endpoint) {
  thread_local std::shared_ptr<const UpstreamEndpoint> last;
  if (last == nullptr || *last != endpoint) last = std::make_shared<const UpstreamEndpoint>(std::move(endpoint));
  return last;
}

Awaitable<absl::StatusOr<ByteStream>> ConnectEndpoint(const UpstreamEndpoint& endpoint,
                                                      std::chrono::milliseconds timeout) {
  absl::StatusOr<ByteStream> stream = co_await ConnectWithin(endpoint, timeout);
  if (!stream.ok()) co_return ConnectError(Describe(endpoint), std::string(StatusText(stream.status())));
  co_return stream;
}

namespace {

std::string LabelOf(const config::UpstreamConfig& upstream) {
  return fmt::format("upstream \"{}\" at {}", upstream.name,
                     upstream.host.starts_with('/') ? fmt::format("{}/.s.PGSQL.{}", upstream.host, upstream.port)
                                                    : fmt::format("{}:{}", upstream.host, upstream.port));
}

// As libpq: the server's name is sent by SNI, an address is not.
std::string ServerNameOf(const std::string& host) {
  error_code not_numeric;
  asio::ip::make_address(host, not_numeric);
  return not_numeric ? host : std::string();
}

// SSLRequest, then the handshake if the server answers 'S'. The error is
// only the reason; the caller names the upstream.
Awaitable<absl::Status> NegotiateTls(ByteStream& stream, const config::UpstreamConfig& upstream,
                                     SSL_CTX* context, bool tls_optional,
                                     std::chrono::steady_clock::time_point deadline) {
  if (context == nullptr) co_return absl::InternalError("no TLS context was built for it");
  protocol::MessageWriter request;
  protocol::AppendSslRequest(request);
  auto [write_error, written] = co_await stream.WriteAll(request.bytes());
  if (write_error) co_return UnavailableError(write_error.message());
  std::byte answer{};
  auto read = co_await WithTimeout(stream.ReadExactly(std::span(&answer, 1)),
                                   deadline - std::chrono::steady_clock::now());
  if (!read) co_return UnavailableError("no answer to SSLRequest in time");
  if (auto [read_error, count] = *read; read_error) co_return UnavailableError(read_error.message());
  if (answer == std::byte{'S'}) {
    co_return co_await ConnectTls(stream, context, ServerNameOf(upstream.host), deadline);
  }
  if (answer == std::byte{'N'}) {
    if (tls_optional) co_return absl::OkStatus();
    co_return UnavailableError(fmt::format("the server does not accept TLS, and server_tls_sslmode is \"{}\"",
                                           config::Name(upstream.tls.mode)));
  }
  co_return UnavailableError(
      fmt::format("unexpected answer to SSLRequest: 0x{:02x}", static_cast<unsigned>(answer)));
}

Awaitable<absl::StatusOr<UpstreamConnection>> ConnectTransport(const config::UpstreamConfig& upstream,
                                                               const std::string& label);

}  // namespace

Awaitable<absl::StatusOr<UpstreamConnection>> ConnectUpstream(const config::UpstreamConfig& upstream,
                                                              SSL_CTX* tls_context, bool retrying_in_tls) {
  const auto deadline = std::chrono::steady_clock::now() + upstream.connect_timeout;
  const std::string label = LabelOf(upstream);
  absl::StatusOr<UpstreamConnection> connection = co_await ConnectTransport(upstream, label);
  // No TLS over a unix socket, as in libpq; allow tries plain text first.
  const bool plain_first = upstream.tls.mode == config::ServerTlsMode::kAllow && !retrying_in_tls;
  if (!connection.ok() || !upstream.tls.enabled() || upstream.host.starts_with('/') || plain_first) {
    co_return connection;
  }
  const bool tls_optional = upstream.tls.mode == config::ServerTlsMode::kPrefer;
  if (absl::Status tls = co_await NegotiateTls(connection->stream, upstream, tls_context, tls_optional, deadline);
      !tls.ok()) {
    co_return ConnectError(label, std::string(StatusText(tls)));
  }
  co_return connection;
}

namespace {

Awaitable<absl::StatusOr<UpstreamConnection>> ConnectTransport(const config::UpstreamConfig& upstream,
                                                               const std::string& label) {
  auto executor = co_await asio::this_coro::executor;

  // A unix socket or a numeric address needs no resolver, whose
  // asynchronous lookups run on a helper thread: worth skipping on every
  // new session.
  std::optional<UpstreamEndpoint> known;
  error_code not_numeric;
  if (upstream.host.starts_with('/')) {
    known = unix_socket::endpoint(fmt::format("{}/.s.PGSQL.{}", upstream.host, upstream.port));
  } else if (const auto address = asio::ip::make_address(upstream.host, not_numeric); !not_numeric) {
    known = tcp::endpoint(address, upstream.port);
  }
  if (known) {
    absl::StatusOr<ByteStream> stream = co_await ConnectWithin(*known, upstream.connect_timeout);
    if (!stream.ok()) co_return ConnectError(label, std::string(StatusText(stream.status())));
    co_return UpstreamConnection{*std::move(stream), *known};
  }

  tcp::resolver resolver(executor);
  auto resolved = co_await (resolver.async_resolve(upstream.host, std::to_string(upstream.port),
                                                   kUseTuple) ||
                            SleepFor(upstream.connect_timeout));
  if (resolved.index() == 1) co_return ConnectError(label, TimeoutText(upstream.connect_timeout));
  auto [resolve_error, endpoints] = std::get<0>(std::move(resolved));
  if (resolve_error) co_return ConnectError(label, resolve_error.message());

  TcpStream socket(ToIoContextExecutor(executor));
  auto connected = co_await (asio::async_connect(socket, endpoints, kUseTuple) ||
                             SleepFor(upstream.connect_timeout));
  if (connected.index() == 1) co_return ConnectError(label, TimeoutText(upstream.connect_timeout));
  auto [connect_error, endpoint] = std::get<0>(connected);
  if (connect_error) co_return ConnectError(label, connect_error.message());
  co_return UpstreamConnection{ByteStream(std::move(socket)), UpstreamEndpoint(endpoint)};
}

}  // namespace

}  // namespace pgvalve::proxy
