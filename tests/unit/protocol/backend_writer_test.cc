// What pgvalve writes as a backend: every message byte by byte against the
// layouts of https://www.postgresql.org/docs/15/protocol-message-formats.html,
// and every message that has a parser parsed back.

#include "protocol/backend_writer.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "gtest/gtest.h"
#include "tests/unit/protocol/test_bytes.h"

namespace pgvalve::protocol {
namespace {

using testutil::AsText;
using testutil::ByteBuilder;
using testutil::Bytes;
using testutil::CountingBytes;
using testutil::Hex;

// The writer's output must be exactly one message with tag `tag`; returns
// its body.
Bytes OnlyBody(const MessageWriter& writer, BackendTag tag) {
  std::span<const std::byte> bytes = writer.bytes();
  std::vector<testutil::SplitMessage> messages = testutil::SplitStream(bytes);
  EXPECT_EQ(messages.size(), 1u);
  if (messages.size() != 1) return {};
  EXPECT_EQ(messages[0].tag, static_cast<char>(tag)) << TagName(tag);
  EXPECT_EQ(messages[0].end(), bytes.size());
  return messages[0].body;
}

TEST(SeverityTextTest, EverySeverity) {
  EXPECT_EQ(SeverityText(Severity::kFatal), "FATAL");
  EXPECT_EQ(SeverityText(Severity::kError), "ERROR");
  EXPECT_EQ(SeverityText(Severity::kWarning), "WARNING");
  EXPECT_EQ(SeverityText(Severity::kNotice), "NOTICE");
  EXPECT_EQ(SeverityText(Severity::kInfo), "INFO");
  EXPECT_EQ(SeverityText(Severity::kLog), "LOG");
}

TEST(ErrorResponseWriterTest, Layout) {
  // ErrorResponse: Byte1('E'), Int32 length, then (Byte1 code, String value)*
  // and a final zero byte. 'V' (9.6+) carries the unlocalized severity.
  MessageWriter writer;
  AppendErrorResponse(writer, {.severity = Severity::kFatal,
                               .sqlstate = "57P01",
                               .message = "bye",
                               .detail = "d",
                               .hint = "h"});
  ByteBuilder expected;
  expected.Tag('E').I32(4 + 7 + 7 + 7 + 5 + 3 + 3 + 1);
  expected.U8('S').Str("FATAL").U8('V').Str("FATAL").U8('C').Str("57P01").U8('M').Str("bye");
  expected.U8('D').Str("d").U8('H').Str("h").U8(0);
  EXPECT_EQ(Hex(writer.bytes()), Hex(expected.bytes()));
}

TEST(ErrorResponseWriterTest, EmptyDetailAndHintAreOmitted) {
  MessageWriter writer;
  AppendErrorResponse(writer, {.severity = Severity::kError, .sqlstate = "08P01", .message = "m", .detail = "",
                               .hint = ""});
  ByteBuilder expected;
  expected.Tag('E').I32(4 + 7 + 7 + 7 + 3 + 1);
  expected.U8('S').Str("ERROR").U8('V').Str("ERROR").U8('C').Str("08P01").U8('M').Str("m").U8(0);
  EXPECT_EQ(Hex(writer.bytes()), Hex(expected.bytes()));
}

TEST(ErrorResponseWriterTest, EmbeddedNulInTextDoesNotBreakTheFieldList) {
  MessageWriter writer;
  AppendErrorResponse(writer, {.severity = Severity::kError,
                               .sqlstate = "XX000",
                               .message = std::string_view("a\0M evil", 8),
                               .detail = "kept",
                               .hint = ""});
  Bytes body = OnlyBody(writer, BackendTag::kErrorResponse);
  absl::StatusOr<ErrorFields> fields = ParseErrorOrNotice(body);
  ASSERT_TRUE(fields.ok()) << fields.status();
  EXPECT_EQ(fields->message, "a");
  EXPECT_EQ(fields->detail, "kept");
}

TEST(ErrorResponseWriterTest, ErrorsAndNoticesParseBack) {
  constexpr std::array kSeverities = {Severity::kFatal, Severity::kError, Severity::kWarning,
                                      Severity::kNotice, Severity::kInfo, Severity::kLog};
  for (Severity severity : kSeverities) {
    for (bool with_detail : {false, true}) {
      for (bool with_hint : {false, true}) {
        for (bool notice : {false, true}) {
          SCOPED_TRACE(fmt::format("{} detail={} hint={} notice={}", SeverityText(severity), with_detail,
                                   with_hint, notice));
          ErrorSpec spec{.severity = severity,
                         .sqlstate = "53300",
                         .message = "sorry, too many clients already",
                         .detail = with_detail ? "pool \"app\" is full" : "",
                         .hint = with_hint ? "raise pool_size" : ""};
          MessageWriter writer;
          if (notice) {
            AppendNoticeResponse(writer, spec);
          } else {
            AppendErrorResponse(writer, spec);
          }
          Bytes body =
              OnlyBody(writer, notice ? BackendTag::kNoticeResponse : BackendTag::kErrorResponse);
          absl::StatusOr<ErrorFields> fields = ParseErrorOrNotice(body);
          ASSERT_TRUE(fields.ok()) << fields.status();
          EXPECT_EQ(fields->severity, SeverityText(severity));
          EXPECT_EQ(fields->severity_internal, SeverityText(severity));
          EXPECT_EQ(fields->sqlstate, spec.sqlstate);
          EXPECT_EQ(fields->message, spec.message);
          EXPECT_EQ(fields->detail, spec.detail);
          EXPECT_EQ(fields->hint, spec.hint);
        }
      }
    }
  }
}

TEST(NoticeResponseWriterTest, UsesTagN) {
  MessageWriter writer;
  AppendNoticeResponse(
      writer, {.severity = Severity::kNotice, .sqlstate = "00000", .message = "x", .detail = "", .hint = ""});
  ASSERT_FALSE(writer.empty());
  EXPECT_EQ(writer.bytes()[0], std::byte{'N'});
}

TEST(ReadyForQueryWriterTest, LayoutAndRoundTrip) {
  for (TransactionStatus status :
       {TransactionStatus::kIdle, TransactionStatus::kInTransaction, TransactionStatus::kFailed}) {
    MessageWriter writer;
    AppendReadyForQuery(writer, status);
    EXPECT_EQ(Hex(writer.bytes()),
              Hex(ByteBuilder().Tag('Z').I32(5).U8(static_cast<uint8_t>(status)).bytes()));
    EXPECT_EQ(ParseReadyForQuery(OnlyBody(writer, BackendTag::kReadyForQuery)).value(), status);
  }
}

TEST(BackendKeyDataWriterTest, LayoutWithFourByteSecret) {
  MessageWriter writer;
  Bytes secret = CountingBytes(4, 0x10);
  AppendBackendKeyData(writer, 0x0a0b0c0d, secret);
  EXPECT_EQ(Hex(writer.bytes()), "4b 00 00 00 0c 0a 0b 0c 0d 10 11 12 13");
}

TEST(BackendKeyDataWriterTest, RoundTripUpTo256ByteSecret) {
  for (size_t length : {4, 32, 256}) {
    for (int32_t pid : {1, INT32_MAX, INT32_MIN, -1}) {
      SCOPED_TRACE(fmt::format("pid {}, secret of {} bytes", pid, length));
      Bytes secret = CountingBytes(length, 0x80);
      MessageWriter writer;
      AppendBackendKeyData(writer, pid, secret);
      EXPECT_EQ(writer.bytes().size(), 1 + 4 + 4 + length);
      Bytes body = OnlyBody(writer, BackendTag::kBackendKeyData);
      absl::StatusOr<BackendKeyData> key = ParseBackendKeyData(body);
      ASSERT_TRUE(key.ok()) << key.status();
      EXPECT_EQ(key->pid, pid);
      EXPECT_EQ(Hex(key->secret), Hex(secret));
    }
  }
}

TEST(ParameterStatusWriterTest, LayoutAndRoundTrip) {
  MessageWriter writer;
  AppendParameterStatus(writer, "client_encoding", "UTF8");
  EXPECT_EQ(Hex(writer.bytes()),
            Hex(ByteBuilder().Tag('S').I32(4 + 16 + 5).Str("client_encoding").Str("UTF8").bytes()));
  Bytes body = OnlyBody(writer, BackendTag::kParameterStatus);
  absl::StatusOr<ParameterStatus> parameter = ParseParameterStatus(body);
  ASSERT_TRUE(parameter.ok()) << parameter.status();
  EXPECT_EQ(parameter->name, "client_encoding");
  EXPECT_EQ(parameter->value, "UTF8");

  MessageWriter empty_value;
  AppendParameterStatus(empty_value, "application_name", "");
  body = OnlyBody(empty_value, BackendTag::kParameterStatus);
  parameter = ParseParameterStatus(body);
  ASSERT_TRUE(parameter.ok()) << parameter.status();
  EXPECT_EQ(parameter->value, "");
}

TEST(AuthenticationWriterTest, OkLayout) {
  // AuthenticationOk: Byte1('R'), Int32(8), Int32(0).
  MessageWriter writer;
  AppendAuthentication(writer, AuthenticationCode::kOk);
  EXPECT_EQ(Hex(writer.bytes()), "52 00 00 00 08 00 00 00 00");
}

TEST(AuthenticationWriterTest, RoundTrips) {
  struct Case {
    AuthenticationCode code;
    std::string_view data;
  };
  const Case cases[] = {
      {AuthenticationCode::kOk, ""},
      {AuthenticationCode::kCleartextPassword, ""},
      {AuthenticationCode::kMd5Password, "\x01\x02\x03\x04"},
      {AuthenticationCode::kSasl, std::string_view("SCRAM-SHA-256\0\0", 15)},
      {AuthenticationCode::kSaslContinue, "r=nonce,s=salt,i=4096"},
      {AuthenticationCode::kSaslFinal, "v=signature"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(fmt::format("code {}", static_cast<int32_t>(c.code)));
    MessageWriter writer;
    AppendAuthentication(writer, c.code, testutil::AsSpan(c.data));
    EXPECT_EQ(Hex(writer.bytes()),
              Hex(ByteBuilder().Tag('R').I32(static_cast<int32_t>(8 + c.data.size()))
                      .I32(static_cast<int32_t>(c.code)).Raw(c.data).bytes()));
    Bytes body = OnlyBody(writer, BackendTag::kAuthentication);
    absl::StatusOr<AuthenticationRequest> auth = ParseAuthenticationRequest(body);
    ASSERT_TRUE(auth.ok()) << auth.status();
    EXPECT_EQ(auth->code, c.code);
    EXPECT_EQ(AsText(auth->data), c.data);
  }
}

TEST(EmptyQueryResponseWriterTest, Layout) {
  MessageWriter writer;
  AppendEmptyQueryResponse(writer);
  EXPECT_EQ(Hex(writer.bytes()), "49 00 00 00 04");
}

TEST(CommandCompleteWriterTest, Layout) {
  // CommandComplete: Byte1('C'), Int32 length, String command tag.
  MessageWriter writer;
  AppendCommandComplete(writer, "SHOW");
  EXPECT_EQ(Hex(writer.bytes()), "43 00 00 00 09 53 48 4f 57 00");
  writer.Clear();
  AppendCommandComplete(writer, "SELECT 3");
  EXPECT_EQ(Hex(writer.bytes()), Hex(ByteBuilder().Tag('C').I32(13).Str("SELECT 3").bytes()));
}

TEST(RowDescriptionWriterTest, LayoutOfEveryColumnType) {
  // RowDescription: Byte1('T'), Int32 length, Int16 field count, then per
  // field: String name, Int32 table OID, Int16 column number, Int32 type OID,
  // Int16 type size (negative: variable width), Int32 type modifier,
  // Int16 format code (0 = text).
  const ColumnSpec columns[] = {
      {"database", ColumnType::kText}, {"active", ColumnType::kBool}, {"clients", ColumnType::kInt4},
      {"bytes", ColumnType::kInt8},    {"avg_ms", ColumnType::kFloat8},
  };
  MessageWriter writer;
  AppendRowDescription(writer, columns);
  ByteBuilder expected;
  const size_t per_field = 4 + 2 + 4 + 2 + 4 + 2;
  const size_t names = 9 + 7 + 8 + 6 + 7;
  expected.Tag('T').I32(static_cast<int32_t>(4 + 2 + names + 5 * per_field)).I16(5);
  // pg_type: text 25 (typlen -1), bool 16 (1), int4 23 (4), int8 20 (8),
  // float8 701 (8).
  expected.Str("database").I32(0).I16(0).I32(25).I16(-1).I32(-1).I16(0);
  expected.Str("active").I32(0).I16(0).I32(16).I16(1).I32(-1).I16(0);
  expected.Str("clients").I32(0).I16(0).I32(23).I16(4).I32(-1).I16(0);
  expected.Str("bytes").I32(0).I16(0).I32(20).I16(8).I32(-1).I16(0);
  expected.Str("avg_ms").I32(0).I16(0).I32(701).I16(8).I32(-1).I16(0);
  EXPECT_EQ(Hex(writer.bytes()), Hex(expected.bytes()));
}

TEST(RowDescriptionWriterTest, NoColumns) {
  MessageWriter writer;
  AppendRowDescription(writer, {});
  EXPECT_EQ(Hex(writer.bytes()), "54 00 00 00 06 00 00");
}

TEST(DataRowWriterTest, LayoutWithNullEmptyAndValues) {
  // DataRow: Byte1('D'), Int32 length, Int16 column count, then per column
  // Int32 value length (-1 for NULL, no bytes follow) and the value bytes.
  const std::optional<std::string_view> values[] = {"app", std::nullopt, "", "12345"};
  MessageWriter writer;
  AppendDataRow(writer, values);
  ByteBuilder expected;
  expected.Tag('D').I32(4 + 2 + (4 + 3) + 4 + 4 + (4 + 5)).I16(4);
  expected.I32(3).Raw("app").I32(-1).I32(0).I32(5).Raw("12345");
  EXPECT_EQ(Hex(writer.bytes()), Hex(expected.bytes()));
}

TEST(DataRowWriterTest, ValuesMayContainNul) {
  // Values are counted, not terminated, so a NUL inside one is data.
  const std::optional<std::string_view> values[] = {std::string_view("a\0b", 3)};
  MessageWriter writer;
  AppendDataRow(writer, values);
  EXPECT_EQ(Hex(writer.bytes()), "44 00 00 00 0d 00 01 00 00 00 03 61 00 62");
}

TEST(BackendWriterTest, AResultSetIsAWellFormedStream) {
  // What the admin console sends for one query, appended to one writer.
  const ColumnSpec columns[] = {{"name", ColumnType::kText}, {"count", ColumnType::kInt8}};
  const std::optional<std::string_view> row1[] = {"a", "1"};
  const std::optional<std::string_view> row2[] = {std::nullopt, "2"};
  MessageWriter writer;
  AppendRowDescription(writer, columns);
  AppendDataRow(writer, row1);
  AppendDataRow(writer, row2);
  AppendCommandComplete(writer, "SHOW");
  AppendReadyForQuery(writer, TransactionStatus::kIdle);
  std::vector<testutil::SplitMessage> messages = testutil::SplitStream(writer.bytes());
  ASSERT_EQ(messages.size(), 5u);
  EXPECT_EQ(messages[0].tag, 'T');
  EXPECT_EQ(messages[1].tag, 'D');
  EXPECT_EQ(messages[2].tag, 'D');
  EXPECT_EQ(messages[3].tag, 'C');
  EXPECT_EQ(messages[4].tag, 'Z');
  EXPECT_EQ(messages[4].end(), writer.bytes().size());
}

}  // namespace
}  // namespace pgvalve::protocol
