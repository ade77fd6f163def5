#include "proxy/error_reply.h"

#include "proxy/deadline.h"

namespace pgvalve::proxy {

// A client that stopped reading must not keep a closing session alive.
constexpr std::chrono::seconds kErrorWriteTimeout{2};

Awaitable<void> SendError(ByteStream& stream, protocol::ErrorSpec error) {
  protocol::MessageWriter writer;
  protocol::AppendErrorResponse(writer, error);
  co_await WithTimeout(stream.WriteAll(writer.bytes()), kErrorWriteTimeout);
}

}  // namespace pgvalve::proxy
