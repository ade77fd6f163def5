#include "tests/unit/proxy/wire.h"

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "protocol/backend_messages.h"
#include "protocol/backend_writer.h"
#include "protocol/message_reader.h"
#include "protocol/message_writer.h"
#include "protocol/startup_packet.h"

namespace pgvalve::proxy::testutil {
namespace {

using protocol::BackendTag;
using protocol::FrontendTag;
using protocol::MessageWriter;

Bytes ToBytes(const MessageWriter& writer) {
  return Bytes(writer.bytes().begin(), writer.bytes().end());
}

}  // namespace

Bytes Concat(std::initializer_list<std::span<const std::byte>> parts) {
  Bytes out;
  for (auto part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

std::string Hex(std::span<const std::byte> bytes, size_t max_bytes) {
  std::string text;
  for (size_t i = 0; i < bytes.size() && i < max_bytes; ++i) {
    if (i > 0) text += ' ';
    text += fmt::format("{:02x}", static_cast<uint8_t>(bytes[i]));
  }
  if (bytes.size() > max_bytes) text += fmt::format(" ... ({} bytes)", bytes.size());
  return text;
}

Bytes PatternBytes(size_t count, uint32_t seed) {
  Bytes bytes(count);
  uint32_t state = seed * 2654435761u + 1;
  for (size_t i = 0; i < count; ++i) {
    state = state * 1103515245u + 12345u;
    bytes[i] = static_cast<std::byte>(state >> 24);
  }
  return bytes;
}

uint64_t Checksum(std::span<const std::byte> bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (std::byte b : bytes) {
    hash ^= static_cast<uint8_t>(b);
    hash *= 1099511628211ull;
  }
  return hash;
}

Bytes StartupPacket(const Parameters& parameters, uint16_t major, uint16_t minor) {
  MessageWriter writer;
  writer.BeginUntagged().Int32(protocol::ProtocolVersion{major, minor}.Code());
  for (const auto& [name, value] : parameters) writer.CString(name).CString(value);
  writer.Byte(0).End();
  return ToBytes(writer);
}

Bytes SslRequestPacket() {
  MessageWriter writer;
  writer.BeginUntagged().Int32(protocol::kSslRequestCode).End();
  return ToBytes(writer);
}

Bytes GssEncRequestPacket() {
  MessageWriter writer;
  writer.BeginUntagged().Int32(protocol::kGssEncRequestCode).End();
  return ToBytes(writer);
}

Bytes CancelRequestPacket(int32_t pid, std::span<const std::byte> secret) {
  MessageWriter writer;
  protocol::AppendCancelRequest(writer, pid, secret);
  return ToBytes(writer);
}

Bytes QueryMessage(std::string_view sql) {
  MessageWriter writer;
  writer.Begin(FrontendTag::kQuery).CString(sql).End();
  return ToBytes(writer);
}

Bytes ParseMessage(std::string_view statement, std::string_view sql) {
  MessageWriter writer;
  writer.Begin(FrontendTag::kParse).CString(statement).CString(sql).Int16(0).End();
  return ToBytes(writer);
}

Bytes BindMessage(std::string_view portal, std::string_view statement) {
  // No parameter formats, no parameters, no result formats (all text).
  MessageWriter writer;
  writer.Begin(FrontendTag::kBind).CString(portal).CString(statement).Int16(0).Int16(0).Int16(0).End();
  return ToBytes(writer);
}

Bytes ExecuteMessage(std::string_view portal) {
  MessageWriter writer;
  writer.Begin(FrontendTag::kExecute).CString(portal).Int32(0).End();
  return ToBytes(writer);
}

Bytes SyncMessage() {
  MessageWriter writer;
  writer.Begin(FrontendTag::kSync).End();
  return ToBytes(writer);
}

Bytes PasswordMessage(std::string_view password) {
  MessageWriter writer;
  writer.Begin(FrontendTag::kPassword).CString(password).End();
  return ToBytes(writer);
}

Bytes CopyDataMessage(std::span<const std::byte> data) {
  MessageWriter writer;
  writer.Begin(FrontendTag::kCopyData).Bytes(data).End();
  return ToBytes(writer);
}

Bytes CopyDoneMessage() {
  MessageWriter writer;
  writer.Begin(FrontendTag::kCopyDone).End();
  return ToBytes(writer);
}

Bytes TerminateMessage() {
  MessageWriter writer;
  writer.Begin(FrontendTag::kTerminate).End();
  return ToBytes(writer);
}

Bytes AuthenticationOkMessage() {
  MessageWriter writer;
  protocol::AppendAuthentication(writer, protocol::AuthenticationCode::kOk);
  return ToBytes(writer);
}

Bytes AuthenticationCleartextMessage() {
  MessageWriter writer;
  protocol::AppendAuthentication(writer, protocol::AuthenticationCode::kCleartextPassword);
  return ToBytes(writer);
}

Bytes ParameterStatusMessage(std::string_view name, std::string_view value) {
  MessageWriter writer;
  protocol::AppendParameterStatus(writer, name, value);
  return ToBytes(writer);
}

Bytes BackendKeyDataMessage(int32_t pid, std::span<const std::byte> secret) {
  MessageWriter writer;
  protocol::AppendBackendKeyData(writer, pid, secret);
  return ToBytes(writer);
}

Bytes ReadyForQueryMessage(char status) {
  MessageWriter writer;
  protocol::AppendReadyForQuery(writer, static_cast<protocol::TransactionStatus>(status));
  return ToBytes(writer);
}

Bytes CommandCompleteMessage(std::string_view tag) {
  MessageWriter writer;
  protocol::AppendCommandComplete(writer, tag);
  return ToBytes(writer);
}

Bytes CopyInResponseMessage() {
  // Text format, one column.
  MessageWriter writer;
  writer.Begin(BackendTag::kCopyInResponse).Byte(0).Int16(1).Int16(0).End();
  return ToBytes(writer);
}

Bytes RowDescriptionMessage(std::string_view column) {
  MessageWriter writer;
  const protocol::ColumnSpec columns[] = {{.name = column}};
  protocol::AppendRowDescription(writer, columns);
  return ToBytes(writer);
}

Bytes DataRowMessage(std::span<const std::byte> column) {
  MessageWriter writer;
  writer.Begin(BackendTag::kDataRow).Int16(1).Int32(static_cast<int32_t>(column.size()));
  writer.Bytes(column).End();
  return ToBytes(writer);
}

Bytes NotificationResponseMessage(int32_t pid, std::string_view channel, std::string_view payload) {
  MessageWriter writer;
  writer.Begin(BackendTag::kNotificationResponse).Int32(pid).CString(channel).CString(payload).End();
  return ToBytes(writer);
}

Bytes ErrorMessage(std::string_view sqlstate, std::string_view message) {
  MessageWriter writer;
  protocol::AppendErrorResponse(writer, {protocol::Severity::kError, sqlstate, message, {}, {}});
  return ToBytes(writer);
}

Bytes FatalMessage(std::string_view sqlstate, std::string_view message) {
  MessageWriter writer;
  protocol::AppendErrorResponse(writer, {protocol::Severity::kFatal, sqlstate, message, {}, {}});
  return ToBytes(writer);
}

Bytes StartupReply(int32_t pid, std::span<const std::byte> secret) {
  return Concat({AuthenticationOkMessage(), ParameterStatusMessage("server_version", "17.2"),
                 BackendKeyDataMessage(pid, secret), ReadyForQueryMessage('I')});
}

Bytes RawHeader(char tag, uint32_t length) {
  return Bytes{static_cast<std::byte>(tag), static_cast<std::byte>(length >> 24),
               static_cast<std::byte>(length >> 16), static_cast<std::byte>(length >> 8),
               static_cast<std::byte>(length)};
}

Bytes Encode(const Message& message) {
  Bytes out = RawHeader(message.tag, static_cast<uint32_t>(message.body.size() + 4));
  out.insert(out.end(), message.body.begin(), message.body.end());
  return out;
}

std::optional<ErrorReport> ParseError(const Message& message) {
  if (message.tag != 'E' && message.tag != 'N') return std::nullopt;
  auto fields = protocol::ParseErrorOrNotice(message.body);
  if (!fields.ok()) return std::nullopt;
  return ErrorReport{std::string(fields->severity), std::string(fields->sqlstate),
                     std::string(fields->message), std::string(fields->detail),
                     std::string(fields->hint)};
}

std::string QueryText(const Message& message) {
  if (message.tag != 'Q') return {};
  protocol::MessageReader reader(message.body, "Query");
  auto sql = reader.ReadCString();
  return sql.ok() ? std::string(*sql) : std::string();
}

std::optional<KeyData> ParseKeyData(const Message& message) {
  if (message.tag != 'K') return std::nullopt;
  auto key = protocol::ParseBackendKeyData(message.body);
  if (!key.ok()) return std::nullopt;
  return KeyData{key->pid, Bytes(key->secret.begin(), key->secret.end())};
}

std::optional<StartupParameters> ParseStartupPacket(std::span<const std::byte> packet) {
  if (packet.size() < 8) return std::nullopt;
  protocol::MessageReader reader(packet.subspan(4), "startup packet");
  auto code = reader.ReadInt32();
  if (!code.ok()) return std::nullopt;
  StartupParameters result{*code, {}};
  if (*code == protocol::kCancelRequestCode || *code == protocol::kSslRequestCode ||
      *code == protocol::kGssEncRequestCode) {
    return result;
  }
  while (true) {
    auto name = reader.ReadCString();
    if (!name.ok()) return std::nullopt;
    if (name->empty()) break;
    auto value = reader.ReadCString();
    if (!value.ok()) return std::nullopt;
    result.parameters.emplace_back(std::string(*name), std::string(*value));
  }
  return result;
}

std::string TagsOf(const std::vector<Message>& messages) {
  std::string tags;
  for (const Message& message : messages) tags += message.tag;
  return tags;
}

MessagesRead ReadUntil(TestSocket& socket, char last, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MessagesRead read;
  while (true) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    ReceivedMessage received = socket.ReadMessage(std::max(left, Millis(0)));
    read.status = received.status;
    if (!received.ok()) return read;
    read.messages.push_back(std::move(received.message));
    if (read.messages.back().tag == last) return read;
  }
}

std::optional<ErrorReport> ReadFatalThenClose(TestSocket& socket) {
  ReceivedMessage received = socket.ReadMessage();
  if (!received.ok()) {
    ADD_FAILURE() << "expected an ErrorResponse, got " << ReadStatusName(received.status);
    return std::nullopt;
  }
  std::optional<ErrorReport> error = ParseError(received.message);
  if (received.message.tag != 'E' || !error) {
    ADD_FAILURE() << "expected an ErrorResponse, got message '" << received.message.tag
                  << "': " << Hex(received.message.body);
    return std::nullopt;
  }
  EXPECT_EQ(error->severity, "FATAL");
  Bytes rest;
  ReadStatus end = socket.ReadUntilClosed(rest);
  EXPECT_EQ(end, ReadStatus::kEof) << "expected EOF after the error, got " << ReadStatusName(end);
  EXPECT_TRUE(rest.empty()) << "bytes after the error: " << Hex(rest);
  return error;
}

}  // namespace pgvalve::proxy::testutil
