#include "tests/fuzz/fuzz_seeds.h"

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "protocol/backend_writer.h"
#include "protocol/message_writer.h"
#include "protocol/startup_packet.h"
#include "tests/fuzz/message_scanner_fuzz_input.h"

namespace pgvalve::fuzz {
namespace {

using protocol::AuthenticationCode;
using protocol::BackendTag;
using protocol::MessageWriter;
using protocol::Severity;
using protocol::TransactionStatus;

Input ToInput(std::span<const std::byte> bytes) {
  Input out;
  for (std::byte b : bytes) out.push_back(static_cast<uint8_t>(b));
  return out;
}

std::vector<std::byte> Secret(size_t length) {
  std::vector<std::byte> secret(length);
  for (size_t i = 0; i < length; ++i) secret[i] = static_cast<std::byte>(0x31 * i + 7);
  return secret;
}

Input Startup(int32_t code, std::initializer_list<std::pair<std::string_view, std::string_view>> parameters) {
  MessageWriter writer;
  writer.BeginUntagged().Int32(code);
  for (const auto& [name, value] : parameters) writer.CString(name).CString(value);
  writer.Byte(0).End();
  return ToInput(writer.bytes());
}

// The body of the writer's one message, after the selector byte `tag`.
Input Selected(BackendTag tag, const MessageWriter& writer) {
  Input out = {static_cast<uint8_t>(tag)};
  Input message = ToInput(writer.bytes());
  out.insert(out.end(), message.begin() + 5, message.end());
  return out;
}

protocol::ErrorSpec Error(Severity severity, std::string_view sqlstate, std::string_view message,
                          std::string_view detail, std::string_view hint) {
  return {.severity = severity, .sqlstate = sqlstate, .message = message, .detail = detail, .hint = hint};
}

// A backend session as a client would see it.
std::vector<std::byte> Session() {
  MessageWriter writer;
  AppendAuthentication(writer, AuthenticationCode::kOk);
  AppendParameterStatus(writer, "server_version", "15.4");
  AppendParameterStatus(writer, "TimeZone", "UTC");
  AppendBackendKeyData(writer, 4242, Secret(4));
  AppendReadyForQuery(writer, TransactionStatus::kIdle);
  const protocol::ColumnSpec columns[] = {{"id", protocol::ColumnType::kInt4},
                                          {"name", protocol::ColumnType::kText}};
  AppendRowDescription(writer, columns);
  const std::string wide(200, 'w');
  const std::optional<std::string_view> row1[] = {"1", "one"};
  const std::optional<std::string_view> row2[] = {"2", std::nullopt};
  const std::optional<std::string_view> row3[] = {"3", wide};
  AppendDataRow(writer, row1);
  AppendDataRow(writer, row2);
  AppendDataRow(writer, row3);
  AppendCommandComplete(writer, "SELECT 3");
  writer.Begin(BackendTag::kParseComplete).End();
  AppendNoticeResponse(writer, Error(Severity::kNotice, "00000", "note", "", ""));
  AppendErrorResponse(writer, Error(Severity::kError, "42P01", "no such table", "d", "h"));
  writer.Begin(BackendTag::kNegotiateProtocolVersion).Int32(3 << 16).Int32(1).CString("_pq_.x").End();
  AppendReadyForQuery(writer, TransactionStatus::kFailed);
  return std::vector<std::byte>(writer.bytes().begin(), writer.bytes().end());
}

// For a max length of 12: two messages of exactly that length, then one of
// 13.
std::vector<std::byte> AtMaxLength() {
  MessageWriter writer;
  writer.Begin(BackendTag::kDataRow).Int16(1).Int32(2).Bytes("ab").End();
  writer.Begin(BackendTag::kCopyData).Bytes("12345678").End();
  writer.Begin(BackendTag::kCopyData).Bytes("123456789").End();
  return std::vector<std::byte>(writer.bytes().begin(), writer.bytes().end());
}

}  // namespace

std::vector<Input> StartupPacketSeeds() {
  constexpr int32_t k30 = 3 << 16;
  std::vector<Input> seeds = {
      Startup(k30, {{"user", "alice"}, {"database", "orders"}, {"application_name", "psql"}}),
      Startup((3 << 16) | 2, {{"user", "bob"}, {"_pq_.x", ""}}),
      Startup(k30, {{"database", "nouser"}}),
      Startup(2 << 16, {{"user", "old"}}),
  };
  for (int32_t code : {protocol::kSslRequestCode, protocol::kGssEncRequestCode}) {
    MessageWriter writer;
    writer.BeginUntagged().Int32(code).End();
    seeds.push_back(ToInput(writer.bytes()));
  }
  for (size_t secret : {4, 32, 256}) {
    MessageWriter writer;
    protocol::AppendCancelRequest(writer, 31337, Secret(secret));
    seeds.push_back(ToInput(writer.bytes()));
  }
  // Cases modelled on PgBouncer's 2025-26 fixes. Partial login packets: the
  // length announces more than arrives, or the parameter list stops before
  // its terminator or between a name and its value.
  {
    Input whole = Startup(k30, {{"user", "alice"}, {"database", "orders"}});
    seeds.push_back(Input(whole.begin(), whole.begin() + 20));
    seeds.push_back(Input(whole.begin(), whole.end() - 1));
    MessageWriter writer;
    writer.BeginUntagged().Int32(k30).CString("user").CString("alice").CString("database").End();
    seeds.push_back(ToInput(writer.bytes()));
  }
  // A PasswordMessage where the startup packet belongs, announcing more than
  // any buffer holds; and length fields at and just past the limits.
  seeds.push_back({'p', 0x7f, 0xff, 0xff, 0xff, 'p', 'w', 0});
  for (uint32_t length : {protocol::kMaxStartupPacketLength, protocol::kMaxStartupPacketLength + 1,
                          protocol::kMinStartupPacketLength - 1, uint32_t{0xffffffff}}) {
    Input packet = {static_cast<uint8_t>(length >> 24), static_cast<uint8_t>(length >> 16),
                    static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length)};
    Input body = Startup(k30, {{"user", "alice"}});
    packet.insert(packet.end(), body.begin() + 4, body.end());
    seeds.push_back(packet);
  }
  // Cancel secrets just outside 4 to 256 bytes.
  for (size_t secret : {3, 257}) {
    MessageWriter writer;
    writer.BeginUntagged().Int32(protocol::kCancelRequestCode).Int32(31337).Bytes(Secret(secret)).End();
    seeds.push_back(ToInput(writer.bytes()));
  }
  return seeds;
}

std::vector<Input> BackendMessageSeeds() {
  std::vector<Input> seeds;
  const auto add = [&seeds](BackendTag tag, const MessageWriter& writer) {
    seeds.push_back(Selected(tag, writer));
  };
  {
    MessageWriter w;
    AppendAuthentication(w, AuthenticationCode::kOk);
    add(BackendTag::kAuthentication, w);
  }
  {
    MessageWriter w;
    std::vector<std::byte> salt = Secret(4);
    AppendAuthentication(w, AuthenticationCode::kMd5Password, salt);
    add(BackendTag::kAuthentication, w);
  }
  {
    MessageWriter w;
    constexpr std::string_view kMechanisms("SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0", 34);
    AppendAuthentication(w, AuthenticationCode::kSasl, std::as_bytes(std::span(kMechanisms)));
    add(BackendTag::kAuthentication, w);
  }
  {
    MessageWriter w;
    constexpr std::string_view kFirst = "r=abc,s=c2FsdA==,i=4096";
    AppendAuthentication(w, AuthenticationCode::kSaslContinue, std::as_bytes(std::span(kFirst)));
    add(BackendTag::kAuthentication, w);
  }
  for (std::string_view first : {"y,,n=,r=abcdef", "p=tls-server-end-point,,n=,r=x"}) {
    // SASLInitialResponse, selected by 'p' rather than a backend tag.
    MessageWriter w;
    w.Begin(protocol::FrontendTag::kPassword)
        .CString(first[0] == 'p' ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256")
        .Int32(static_cast<int32_t>(first.size()))
        .Bytes(first)
        .End();
    Input seed{static_cast<uint8_t>('p')};
    for (std::byte b : w.bytes().subspan(5)) seed.push_back(static_cast<uint8_t>(b));
    seeds.push_back(std::move(seed));
  }
  for (size_t secret : {4, 256}) {
    MessageWriter w;
    AppendBackendKeyData(w, -7, Secret(secret));
    add(BackendTag::kBackendKeyData, w);
  }
  {
    MessageWriter w;
    AppendParameterStatus(w, "client_encoding", "UTF8");
    add(BackendTag::kParameterStatus, w);
  }
  for (TransactionStatus status :
       {TransactionStatus::kIdle, TransactionStatus::kInTransaction, TransactionStatus::kFailed}) {
    MessageWriter w;
    AppendReadyForQuery(w, status);
    add(BackendTag::kReadyForQuery, w);
  }
  {
    MessageWriter w;
    AppendErrorResponse(w, Error(Severity::kFatal, "57P01", "terminating connection", "detail", "hint"));
    add(BackendTag::kErrorResponse, w);
  }
  {
    MessageWriter w;
    AppendNoticeResponse(w, Error(Severity::kWarning, "01000", "careful", "", ""));
    add(BackendTag::kNoticeResponse, w);
  }
  // An ErrorResponse without a SQLSTATE field (PgBouncer's 2025 fix read
  // past it), one with no fields at all, and one whose terminator is
  // missing; a NoticeResponse without SQLSTATE too.
  {
    MessageWriter w;
    w.Begin(BackendTag::kErrorResponse).Byte('S').CString("FATAL").Byte('M').CString("no code").Byte(0).End();
    add(BackendTag::kErrorResponse, w);
  }
  {
    MessageWriter w;
    w.Begin(BackendTag::kErrorResponse).Byte(0).End();
    add(BackendTag::kErrorResponse, w);
  }
  {
    MessageWriter w;
    w.Begin(BackendTag::kErrorResponse).Byte('S').CString("ERROR").Byte('C').CString("XX000").End();
    add(BackendTag::kErrorResponse, w);
  }
  {
    MessageWriter w;
    w.Begin(BackendTag::kNoticeResponse).Byte('S').CString("NOTICE").Byte('M').CString("hi").Byte(0).End();
    add(BackendTag::kNoticeResponse, w);
  }
  {
    MessageWriter w;
    w.Begin(BackendTag::kNegotiateProtocolVersion)
        .Int32(3 << 16)
        .Int32(2)
        .CString("_pq_.a")
        .CString("_pq_.b")
        .End();
    add(BackendTag::kNegotiateProtocolVersion, w);
  }
  {
    MessageWriter w;
    w.Begin(BackendTag::kNotificationResponse).Int32(4242).CString("jobs").CString("{\"id\": 7}").End();
    add(BackendTag::kNotificationResponse, w);
  }
  return seeds;
}

std::vector<Input> MessageScannerSeeds() {
  const std::vector<std::byte> session = Session();
  constexpr uint8_t kInspect = kActionInspect;
  return {
      // Big buffer, whole reads, everything inspected.
      EncodeScannerFuzzInput(127, 0xff, 0xff, 0, {kInspect}, session),
      // Everything streamed in reads of up to 3 bytes through the smallest buffer.
      EncodeScannerFuzzInput(0, 0xff, 2, 1, {0}, session),
      // Mixed answers, holds and rewrites, small reads.
      EncodeScannerFuzzInput(80, 0xff, 16, 7,
                             {kInspect, 0, kInspect | kActionHold, kInspect | kActionRewrite, kActionHold},
                             session),
      // A buffer too small for the wide DataRow when inspected.
      EncodeScannerFuzzInput(30, 0xff, 40, 3, {kInspect}, session),
      // A max length below the wide DataRow.
      EncodeScannerFuzzInput(127, 20, 0xff, 0, {0}, session),
      // Messages of exactly the max length (4 + 8 * 1) and one byte more.
      EncodeScannerFuzzInput(127, 1, 0xff, 0, {kInspect, 0}, AtMaxLength()),
      // The visitor refuses the fifth message.
      EncodeScannerFuzzInput(127, 0xff, 9, 5, {kInspect, kInspect, kInspect, kInspect, kInspect | kActionRefuse},
                             session),
  };
}

}  // namespace pgvalve::fuzz
