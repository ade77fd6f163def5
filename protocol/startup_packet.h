#pragma once
// The untagged packets a client may open a connection with: StartupMessage,
// SSLRequest, GSSENCRequest and CancelRequest. They share one layout, an
// Int32 length (counting itself) and an Int32 code, and are told apart by the
// code.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "protocol/message_writer.h"

namespace pgvalve::protocol {

// PostgreSQL's own limit (MAX_STARTUP_PACKET_LENGTH).
inline constexpr uint32_t kMaxStartupPacketLength = 10000;
// Length field plus code: the shortest packet of the family.
inline constexpr uint32_t kMinStartupPacketLength = 8;

inline constexpr int32_t kCancelRequestCode = (1234 << 16) | 5678;
inline constexpr int32_t kSslRequestCode = (1234 << 16) | 5679;
inline constexpr int32_t kGssEncRequestCode = (1234 << 16) | 5680;

// Protocol 3.2 lets the server choose a cancel secret of up to 256 bytes;
// 3.0 uses exactly 4.
inline constexpr size_t kMinCancelSecretLength = 4;
inline constexpr size_t kMaxCancelSecretLength = 256;

struct ProtocolVersion {
  uint16_t major = 3;
  uint16_t minor = 0;
  int32_t Code() const { return static_cast<int32_t>((uint32_t{major} << 16) | minor); }
};

struct StartupMessage {
  ProtocolVersion version;
  // In the order the client sent them; views into the packet.
  std::vector<std::pair<std::string_view, std::string_view>> parameters;

  // Empty when absent.
  std::string_view Parameter(std::string_view name) const;
  std::string_view user() const { return Parameter("user"); }
  // As PostgreSQL does, the database defaults to the user name.
  std::string_view database() const;
  std::string_view application_name() const { return Parameter("application_name"); }
};

struct SslRequest {};
struct GssEncRequest {};

struct CancelRequest {
  int32_t pid = 0;
  std::span<const std::byte> secret;
};

using StartupPacket = std::variant<StartupMessage, SslRequest, GssEncRequest, CancelRequest>;

// Checks the length field of a startup-family packet (the first 4 bytes).
absl::StatusOr<uint32_t> ParseStartupPacketLength(std::span<const std::byte, 4> length_field);

// `body` is the packet after its length field. Views in the result point
// into `body`. Errors carry the SQLSTATE the client must be sent:
// 0A000 for an unsupported protocol version, 28000 for a missing user
// name, 08P01 for malformed bytes.
absl::StatusOr<StartupPacket> ParseStartupPacket(std::span<const std::byte> body);

// Appends an SSLRequest (pgvalve asking an upstream for TLS).
void AppendSslRequest(MessageWriter& writer);
// Appends a CancelRequest for `pid`/`secret` (a whole packet, length included).
void AppendCancelRequest(MessageWriter& writer, int32_t pid, std::span<const std::byte> secret);

}  // namespace pgvalve::protocol
