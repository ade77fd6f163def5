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

}  // namespace pgvalve::proxy
