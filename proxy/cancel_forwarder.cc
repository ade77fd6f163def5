#include "proxy/cancel_forwarder.h"

#include "fmt/format.h"
#include "protocol/message_writer.h"
#include "protocol/startup_packet.h"
#include "proxy/deadline.h"
#include "proxy/status_text.h"

namespace pgvalve::proxy {
namespace {

Awaitable<absl::Status> SendAndAwaitClose(ByteStream& stream, const BackendKey& backend) {
  protocol::MessageWriter writer;
  protocol::AppendCancelRequest(writer, backend.pid, backend.secret);
  auto [write_error, written] = co_await stream.WriteAll(writer.bytes());
  if (write_error) {
    co_return UnavailableError(fmt::format("could not send cancel request to {}: {}",
                                           Describe(*backend.endpoint), write_error.message()));
  }
  // The server answers nothing and closes once it has acted; waiting for
  // that close means the cancel was delivered, not merely queued.
  std::array<std::byte, 64> sink;
  while (true) {
    auto [read_error, read] = co_await stream.ReadSome(sink);
    if (read_error) break;
  }
  co_return absl::OkStatus();
}

}  // namespace

Awaitable<absl::Status> ForwardCancelRequest(const BackendKey& backend,
                                             std::chrono::milliseconds timeout) {
  if (!backend.endpoint) co_return absl::FailedPreconditionError("the backend's address is not known");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  absl::StatusOr<ByteStream> stream = co_await ConnectEndpoint(*backend.endpoint, timeout);
  if (!stream.ok()) co_return stream.status();
  auto outcome = co_await WithTimeout(SendAndAwaitClose(*stream, backend),
                                      deadline - std::chrono::steady_clock::now());
  if (!outcome) {
    co_return UnavailableError(fmt::format("cancel request to {} got no answer in {} ms",
                                           Describe(*backend.endpoint), timeout.count()));
  }
  co_return *outcome;
}

Awaitable<absl::Status> ForwardCancelToInstance(const CancelPeer& peer, int32_t virtual_pid,
                                                std::span<const std::byte> secret,
                                                std::chrono::milliseconds timeout) {
  using namespace asio::experimental::awaitable_operators;
  std::optional<UpstreamEndpoint> endpoint;
  error_code not_numeric;
  if (const auto address = asio::ip::make_address(peer.host, not_numeric); !not_numeric) {
    endpoint = tcp::endpoint(address, peer.port);
  } else {
    tcp::resolver resolver(co_await asio::this_coro::executor);
    auto resolved =
        co_await (resolver.async_resolve(peer.host, std::to_string(peer.port), kUseTuple) || SleepFor(timeout));
    if (resolved.index() == 1) {
      co_return UnavailableError(fmt::format("instance {}: {} did not resolve in {} ms", peer.instance_id,
                                             peer.host, timeout.count()));
    }
    auto [resolve_error, results] = std::get<0>(std::move(resolved));
    if (resolve_error || results.empty()) {
      co_return UnavailableError(fmt::format("instance {}: cannot resolve {}: {}", peer.instance_id, peer.host,
                                             resolve_error ? resolve_error.message() : "no address"));
    }
    endpoint = results.begin()->endpoint();
  }
  const BackendKey key{.upstream_name = "instance " + peer.instance_id,
                       .endpoint = std::make_shared<const UpstreamEndpoint>(*std::move(endpoint)),
                       .pid = virtual_pid,
                       .secret = CancelSecret(secret.begin(), secret.end())};
  co_return co_await ForwardCancelRequest(key, timeout);
}

}  // namespace pgvalve::proxy
