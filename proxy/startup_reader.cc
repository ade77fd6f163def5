#include "proxy/startup_reader.h"

#include "proxy/status_text.h"

namespace pgvalve::proxy {

Awaitable<absl::StatusOr<ReceivedStartupPacket>> ReadStartupPacket(ByteStream& client) {
  std::array<std::byte, 4> length_field;
  auto [header_error, header_read] = co_await client.ReadExactly(length_field);
  if (header_error) co_return UnavailableError(header_error.message());

  absl::StatusOr<uint32_t> length = protocol::ParseStartupPacketLength(length_field);
  if (!length.ok()) co_return length.status();

  ReceivedStartupPacket packet;
  packet.bytes.resize(*length);
  std::copy(length_field.begin(), length_field.end(), packet.bytes.begin());
  auto [body_error, body_read] =
      co_await client.ReadExactly(std::span(packet.bytes).subspan(length_field.size()));
  if (body_error) co_return UnavailableError(body_error.message());

  absl::StatusOr<protocol::StartupPacket> parsed =
      protocol::ParseStartupPacket(std::span(packet.bytes).subspan(length_field.size()));
  if (!parsed.ok()) co_return parsed.status();
  packet.parsed = *std::move(parsed);
  co_return packet;
}

}  // namespace pgvalve::proxy
