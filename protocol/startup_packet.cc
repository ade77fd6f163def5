#include "protocol/startup_packet.h"

#include "fmt/format.h"
#include "protocol/message_reader.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"

namespace pgvalve::protocol {
namespace {

absl::StatusOr<StartupMessage> ParseStartupMessage(ProtocolVersion version,
                                                   MessageReader& reader) {
  if (version.major != 3) {
    return ErrorWithSqlState(sqlstate::kFeatureNotSupported,
                             fmt::format("unsupported frontend protocol {}.{}: pgvalve supports 3.0 to 3.x",
                                         version.major, version.minor));
  }
  StartupMessage message{.version = version, .parameters = {}};
  // name/value pairs, ended by an empty name (a lone NUL).
  while (true) {
    absl::StatusOr<std::string_view> name = reader.ReadCString();
    if (!name.ok()) return name.status();
    if (name->empty()) break;
    absl::StatusOr<std::string_view> value = reader.ReadCString();
    if (!value.ok()) return value.status();
    message.parameters.emplace_back(*name, *value);
  }
  if (absl::Status end = reader.ExpectEnd(); !end.ok()) return end;
  if (message.user().empty()) {
    return ErrorWithSqlState(sqlstate::kInvalidAuthorizationSpecification,
                             "no PostgreSQL user name specified in startup packet");
  }
  return message;
}

absl::StatusOr<CancelRequest> ParseCancelRequest(MessageReader& reader) {
  absl::StatusOr<int32_t> pid = reader.ReadInt32();
  if (!pid.ok()) return pid.status();
  std::span<const std::byte> secret = reader.ReadRest();
  if (secret.size() < kMinCancelSecretLength || secret.size() > kMaxCancelSecretLength) {
    return ProtocolViolation(fmt::format("CancelRequest secret of {} bytes (allowed: 4 to 256)", secret.size()));
  }
  return CancelRequest{*pid, secret};
}

}  // namespace

std::string_view StartupMessage::Parameter(std::string_view name) const {
  // The last occurrence wins, as in PostgreSQL's ProcessStartupPacket: the
  // packet is forwarded verbatim, so pgvalve must route and admit the same
  // user and database the server will log in.
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return {};
}

std::string_view StartupMessage::database() const {
  std::string_view database = Parameter("database");
  return database.empty() ? user() : database;
}

absl::StatusOr<uint32_t> ParseStartupPacketLength(std::span<const std::byte, 4> length_field) {
  uint32_t length = LoadBigEndian32(length_field.data());
  if (length < kMinStartupPacketLength || length > kMaxStartupPacketLength) {
    return ProtocolViolation(fmt::format("invalid length of startup packet: {} (allowed: 8 to {})",
                                         static_cast<int32_t>(length), kMaxStartupPacketLength));
  }
  return length;
}

absl::StatusOr<StartupPacket> ParseStartupPacket(std::span<const std::byte> body) {
  MessageReader reader(body, "startup packet");
  absl::StatusOr<int32_t> code = reader.ReadInt32();
  if (!code.ok()) return code.status();
  switch (*code) {
    case kSslRequestCode:
      if (absl::Status end = reader.ExpectEnd(); !end.ok()) return end;
      return SslRequest{};
    case kGssEncRequestCode:
      if (absl::Status end = reader.ExpectEnd(); !end.ok()) return end;
      return GssEncRequest{};
    case kCancelRequestCode: {
      absl::StatusOr<CancelRequest> cancel = ParseCancelRequest(reader);
      if (!cancel.ok()) return cancel.status();
      return *cancel;
    }
    default: {
      auto bits = static_cast<uint32_t>(*code);
      ProtocolVersion version{static_cast<uint16_t>(bits >> 16), static_cast<uint16_t>(bits)};
      absl::StatusOr<StartupMessage> startup = ParseStartupMessage(version, reader);
      if (!startup.ok()) return startup.status();
      return *std::move(startup);
    }
  }
}

void AppendSslRequest(MessageWriter& writer) { writer.BeginUntagged().Int32(kSslRequestCode).End(); }

void AppendCancelRequest(MessageWriter& writer, int32_t pid, std::span<const std::byte> secret) {
  writer.BeginUntagged().Int32(kCancelRequestCode).Int32(pid).Bytes(secret).End();
}

}  // namespace pgvalve::protocol
