#pragma once
// Sending pgvalve's own ErrorResponse to a peer before closing.

#include <string_view>

#include "protocol/backend_writer.h"
#include "proxy/asio.h"
#include "proxy/byte_stream.h"

namespace pgvalve::proxy {

// Writes one ErrorResponse; failures are ignored because the connection is
// being closed anyway. `error` is taken by value: the coroutine may start
// after the caller's temporary is gone (SendFatal below builds one).
Awaitable<void> SendError(ByteStream& stream, protocol::ErrorSpec error);

inline Awaitable<void> SendFatal(ByteStream& stream, std::string_view sqlstate,
                                 std::string_view message, std::string_view detail = {},
                                 std::string_view hint = {}) {
  return SendError(stream, {protocol::Severity::kFatal, sqlstate, message, detail, hint});
}

}  // namespace pgvalve::proxy
