#pragma once
// Reading the first packet of a connection, which has no tag byte and its
// own size limit.

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "protocol/startup_packet.h"
#include "proxy/asio.h"
#include "proxy/byte_stream.h"

namespace pgvalve::proxy {

struct ReceivedStartupPacket {
  // The whole packet, length field included, to forward verbatim: a 3.x minor
  // version and every parameter reach the server exactly as sent.
  std::vector<std::byte> bytes;
  // Views into `bytes` (whose heap buffer stays put when this is moved).
  protocol::StartupPacket parsed;
};

// Errors: kUnavailable when the client went away (end quietly); otherwise a
// protocol error carrying the SQLSTATE to send (protocol::SqlStateOf).
Awaitable<absl::StatusOr<ReceivedStartupPacket>> ReadStartupPacket(ByteStream& client);

}  // namespace pgvalve::proxy
