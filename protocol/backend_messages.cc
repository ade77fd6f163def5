#include "protocol/backend_messages.h"

#include <algorithm>

#include "fmt/format.h"
#include "protocol/message_reader.h"
#include "protocol/protocol_error.h"
#include "protocol/startup_packet.h"

namespace pgvalve::protocol {

absl::StatusOr<TransactionStatus> ParseReadyForQuery(std::span<const std::byte> body) {
  MessageReader reader(body, "ReadyForQuery");
  absl::StatusOr<uint8_t> status = reader.ReadByte();
  if (!status.ok()) return status.status();
  if (absl::Status end = reader.ExpectEnd(); !end.ok()) return end;
  switch (static_cast<TransactionStatus>(*status)) {
    case TransactionStatus::kIdle:
    case TransactionStatus::kInTransaction:
    case TransactionStatus::kFailed:
      return static_cast<TransactionStatus>(*status);
  }
  return ProtocolViolation(
      fmt::format("ReadyForQuery with unknown transaction status 0x{:02x}", *status));
}

absl::StatusOr<BackendKeyData> ParseBackendKeyData(std::span<const std::byte> body) {
  MessageReader reader(body, "BackendKeyData");
  absl::StatusOr<int32_t> pid = reader.ReadInt32();
  if (!pid.ok()) return pid.status();
  std::span<const std::byte> secret = reader.ReadRest();
  if (secret.size() < kMinCancelSecretLength || secret.size() > kMaxCancelSecretLength) {
    return ProtocolViolation(fmt::format("BackendKeyData secret of {} bytes (allowed: 4 to 256)", secret.size()));
  }
  return BackendKeyData{*pid, secret};
}

absl::StatusOr<ParameterStatus> ParseParameterStatus(std::span<const std::byte> body) {
  MessageReader reader(body, "ParameterStatus");
  absl::StatusOr<std::string_view> name = reader.ReadCString();
  if (!name.ok()) return name.status();
  absl::StatusOr<std::string_view> value = reader.ReadCString();
  if (!value.ok()) return value.status();
  if (absl::Status end = reader.ExpectEnd(); !end.ok()) return end;
  return ParameterStatus{*name, *value};
}

absl::StatusOr<AuthenticationRequest> ParseAuthenticationRequest(std::span<const std::byte> body) {
  MessageReader reader(body, "Authentication");
  absl::StatusOr<int32_t> code = reader.ReadInt32();
  if (!code.ok()) return code.status();
  const auto request = static_cast<AuthenticationCode>(*code);
  const std::span<const std::byte> data = body.subspan(4);
  switch (request) {
    case AuthenticationCode::kMd5Password:
      // Exactly a 4-byte salt.
      if (absl::StatusOr<std::span<const std::byte>> salt = reader.ReadBytes(4); !salt.ok()) {
        return salt.status();
      }
      break;
    case AuthenticationCode::kSasl:
      // Mechanism names, each NUL-terminated, then an empty one.
      while (true) {
        absl::StatusOr<std::string_view> mechanism = reader.ReadCString();
        if (!mechanism.ok()) return mechanism.status();
        if (mechanism->empty()) break;
      }
      break;
    case AuthenticationCode::kGssContinue:
    case AuthenticationCode::kSaslContinue:
    case AuthenticationCode::kSaslFinal:
      // Opaque data as long as the message.
      reader.ReadRest();
      break;
    default:
      // The other requests carry nothing after the code.
      break;
  }
  if (absl::Status end = reader.ExpectEnd(); !end.ok()) return end;
  return AuthenticationRequest{request, data};
}

absl::StatusOr<NegotiateProtocolVersion> ParseNegotiateProtocolVersion(
    std::span<const std::byte> body) {
  MessageReader reader(body, "NegotiateProtocolVersion");
  absl::StatusOr<int32_t> newest_version = reader.ReadInt32();
  if (!newest_version.ok()) return newest_version.status();
  absl::StatusOr<int32_t> count = reader.ReadInt32();
  if (!count.ok()) return count.status();
  // Each option takes at least its NUL, so a count beyond the bytes left is a
  // lie; checking it first keeps a hostile count from sizing the vector.
  if (*count < 0 || static_cast<size_t>(*count) > reader.remaining()) {
    return ProtocolViolation(
        fmt::format("NegotiateProtocolVersion claims {} options", *count));
  }
  NegotiateProtocolVersion result{*newest_version, {}};
  result.unrecognized_options.reserve(*count);
  for (int32_t i = 0; i < *count; ++i) {
    absl::StatusOr<std::string_view> option = reader.ReadCString();
    if (!option.ok()) return option.status();
    result.unrecognized_options.push_back(*option);
  }
  if (absl::Status end = reader.ExpectEnd(); !end.ok()) return end;
  return result;
}

absl::StatusOr<std::vector<std::optional<std::string_view>>> ParseDataRow(
    std::span<const std::byte> body) {
  MessageReader reader(body, "DataRow");
  absl::StatusOr<int16_t> count = reader.ReadInt16();
  if (!count.ok()) return count.status();
  if (*count < 0) return ProtocolViolation(fmt::format("DataRow with {} columns", *count));
  std::vector<std::optional<std::string_view>> values;
  for (int16_t i = 0; i < *count; ++i) {
    absl::StatusOr<int32_t> length = reader.ReadInt32();
    if (!length.ok()) return length.status();
    if (*length == -1) {
      values.emplace_back(std::nullopt);
      continue;
    }
    if (*length < 0) return ProtocolViolation(fmt::format("DataRow value of length {}", *length));
    absl::StatusOr<std::span<const std::byte>> bytes = reader.ReadBytes(static_cast<size_t>(*length));
    if (!bytes.ok()) return bytes.status();
    values.emplace_back(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  }
  if (absl::Status end = reader.ExpectEnd(); !end.ok()) return end;
  return values;
}

absl::StatusOr<NotificationResponse> ParseNotificationResponse(std::span<const std::byte> body) {
  MessageReader reader(body, "NotificationResponse");
  absl::StatusOr<int32_t> pid = reader.ReadInt32();
  if (!pid.ok()) return pid.status();
  absl::StatusOr<std::string_view> channel = reader.ReadCString();
  if (!channel.ok()) return channel.status();
  absl::StatusOr<std::string_view> payload = reader.ReadCString();
  if (!payload.ok()) return payload.status();
  if (absl::Status end = reader.ExpectEnd(); !end.ok()) return end;
  return NotificationResponse{*pid, *channel, *payload};
}

absl::Status RewriteBackendKeyData(std::span<std::byte> body, int32_t pid, std::span<const std::byte> secret) {
  absl::StatusOr<BackendKeyData> parsed = ParseBackendKeyData(body);
  if (!parsed.ok()) return parsed.status();
  if (secret.size() != parsed->secret.size()) {
    return absl::InvalidArgumentError("a replacement cancel key must be as long as the server's");
  }
  // Int32 process ID, then the secret key to the end of the message.
  StoreBigEndian32(body.data(), static_cast<uint32_t>(pid));
  std::copy(secret.begin(), secret.end(), body.end() - static_cast<ptrdiff_t>(secret.size()));
  return absl::OkStatus();
}

absl::Status RewriteNotificationPid(std::span<std::byte> body, int32_t pid) {
  absl::StatusOr<NotificationResponse> parsed = ParseNotificationResponse(body);
  if (!parsed.ok()) return parsed.status();
  // The pid is the body's first field.
  StoreBigEndian32(body.data(), static_cast<uint32_t>(pid));
  return absl::OkStatus();
}

absl::StatusOr<ErrorFields> ParseErrorOrNotice(std::span<const std::byte> body) {
  MessageReader reader(body, "ErrorResponse or NoticeResponse");
  ErrorFields fields;
  while (true) {
    absl::StatusOr<uint8_t> code = reader.ReadByte();
    if (!code.ok()) return code.status();
    if (*code == 0) break;
    absl::StatusOr<std::string_view> value = reader.ReadCString();
    if (!value.ok()) return value.status();
    switch (*code) {
      case 'S': fields.severity = *value; break;
      case 'V': fields.severity_internal = *value; break;
      case 'C': fields.sqlstate = *value; break;
      case 'M': fields.message = *value; break;
      case 'D': fields.detail = *value; break;
      case 'H': fields.hint = *value; break;
      default: break;  // fields we do not act on are allowed and skipped
    }
  }
  if (absl::Status end = reader.ExpectEnd(); !end.ok()) return end;
  return fields;
}

}  // namespace pgvalve::protocol
