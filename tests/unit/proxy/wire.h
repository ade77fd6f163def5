#pragma once
// PostgreSQL messages as the component tests send and expect them. Well-formed
// messages are built with protocol::MessageWriter and the backend writer, as a
// real peer would; broken ones (bad lengths) are spelled out byte by byte.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/unit/proxy/test_socket.h"

namespace pgvalve::proxy::testutil {

using Parameters = std::vector<std::pair<std::string, std::string>>;

inline std::span<const std::byte> AsBytes(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}
inline std::string_view AsText(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}
Bytes Concat(std::initializer_list<std::span<const std::byte>> parts);
// "5a 00 00 00 05 49" for failure messages (long input is cut).
std::string Hex(std::span<const std::byte> bytes, size_t max_bytes = 64);

// Deterministic filler: byte i of stream `seed`.
Bytes PatternBytes(size_t count, uint32_t seed);
// FNV-1a, to compare megabytes without printing them.
uint64_t Checksum(std::span<const std::byte> bytes);

// --- Frontend (client) messages -------------------------------------------
Bytes StartupPacket(const Parameters& parameters, uint16_t major = 3, uint16_t minor = 0);
Bytes SslRequestPacket();
Bytes GssEncRequestPacket();
Bytes CancelRequestPacket(int32_t pid, std::span<const std::byte> secret);
Bytes QueryMessage(std::string_view sql);
// The extended protocol, without parameters and in text format.
Bytes ParseMessage(std::string_view statement, std::string_view sql);
Bytes BindMessage(std::string_view portal, std::string_view statement);
Bytes ExecuteMessage(std::string_view portal);
Bytes SyncMessage();
Bytes PasswordMessage(std::string_view password);
Bytes CopyDataMessage(std::span<const std::byte> data);
Bytes CopyDoneMessage();
Bytes TerminateMessage();

// --- Backend (server) messages --------------------------------------------
Bytes AuthenticationOkMessage();
Bytes AuthenticationCleartextMessage();
Bytes ParameterStatusMessage(std::string_view name, std::string_view value);
Bytes BackendKeyDataMessage(int32_t pid, std::span<const std::byte> secret);
Bytes ReadyForQueryMessage(char status = 'I');
Bytes CommandCompleteMessage(std::string_view tag);
Bytes CopyInResponseMessage();
// One text column.
Bytes RowDescriptionMessage(std::string_view column);
Bytes DataRowMessage(std::span<const std::byte> column);
Bytes ErrorMessage(std::string_view sqlstate, std::string_view message);
Bytes FatalMessage(std::string_view sqlstate, std::string_view message);
Bytes NotificationResponseMessage(int32_t pid, std::string_view channel, std::string_view payload);
// AuthenticationOk, ParameterStatus server_version, BackendKeyData, ReadyForQuery 'I'.
Bytes StartupReply(int32_t pid, std::span<const std::byte> secret);

// --- Any direction ----------------------------------------------------------
// A header with exactly this length field and no body.
Bytes RawHeader(char tag, uint32_t length);
Bytes Encode(const Message& message);

// --- Reading ----------------------------------------------------------------
// The fields of an ErrorResponse/NoticeResponse, owned.
struct ErrorReport {
  std::string severity;
  std::string sqlstate;
  std::string message;
  std::string detail;
  std::string hint;
};
std::optional<ErrorReport> ParseError(const Message& message);

// The SQL of a Query message; empty for any other message.
std::string QueryText(const Message& message);

struct KeyData {
  int32_t pid = 0;
  Bytes secret;
};
std::optional<KeyData> ParseKeyData(const Message& message);

struct StartupParameters {
  int32_t code = 0;  // (major << 16) | minor, or a request code
  Parameters parameters;
};
// The length-prefixed packet a client opens with; nullopt if malformed.
std::optional<StartupParameters> ParseStartupPacket(std::span<const std::byte> packet);

// "RSKZ": the tags of `messages`, for comparisons and failure messages.
std::string TagsOf(const std::vector<Message>& messages);

// Messages read until one tagged `last` (included), or until a read fails;
// `status` tells which.
struct MessagesRead {
  std::vector<Message> messages;
  ReadStatus status = ReadStatus::kOk;
  std::string Tags() const { return TagsOf(messages); }
};
MessagesRead ReadUntil(TestSocket& socket, char last, Millis timeout = kIoTimeout);

// Reads one message and expects a FATAL ErrorResponse, then EOF (not a
// reset); failures are reported through gtest. nullopt if there was no
// ErrorResponse.
std::optional<ErrorReport> ReadFatalThenClose(TestSocket& socket);

}  // namespace pgvalve::proxy::testutil
