#include "protocol/sasl_messages.h"

#include "protocol/backend_messages.h"
#include "protocol/message_reader.h"
#include "protocol/protocol_error.h"

namespace pgvalve::protocol {

absl::StatusOr<std::vector<std::string_view>> ParseSaslMechanisms(std::span<const std::byte> data) {
  MessageReader reader(data, "AuthenticationSASL");
  std::vector<std::string_view> mechanisms;
  while (true) {
    absl::StatusOr<std::string_view> name = reader.ReadCString();
    if (!name.ok()) return name.status();
    if (name->empty()) break;
    mechanisms.push_back(*name);
  }
  if (absl::Status end = reader.ExpectEnd(); !end.ok()) return end;
  return mechanisms;
}

void AppendAuthenticationSasl(MessageWriter& writer, const std::vector<std::string_view>& mechanisms) {
  writer.Begin(BackendTag::kAuthentication).Int32(static_cast<int32_t>(AuthenticationCode::kSasl));
  for (std::string_view mechanism : mechanisms) writer.CString(mechanism);
  writer.Byte(0).End();
}

absl::StatusOr<SaslInitialResponse> ParseSaslInitialResponse(std::span<const std::byte> body) {
  MessageReader reader(body, "SASLInitialResponse");
  absl::StatusOr<std::string_view> mechanism = reader.ReadCString();
  if (!mechanism.ok()) return mechanism.status();
  absl::StatusOr<int32_t> length = reader.ReadInt32();
  if (!length.ok()) return length.status();
  SaslInitialResponse response{*mechanism, {}};
  if (*length != -1) {
    if (*length < 0) return ProtocolViolation("SASLInitialResponse with a negative data length");
    absl::StatusOr<std::span<const std::byte>> data = reader.ReadBytes(static_cast<size_t>(*length));
    if (!data.ok()) return data.status();
    response.data = *data;
  }
  if (absl::Status end = reader.ExpectEnd(); !end.ok()) return end;
  return response;
}

std::optional<char> ScramChannelBindingFlag(std::span<const std::byte> client_first) {
  if (client_first.empty()) return std::nullopt;
  const char flag = static_cast<char>(client_first[0]);
  if (flag == 'n' || flag == 'y' || flag == 'p') return flag;
  return std::nullopt;
}

}  // namespace pgvalve::protocol
