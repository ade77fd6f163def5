// Parsers of the backend messages the relay acts on ('Z' 'K' 'S' 'R' 'v' 'E'
// 'N' 'A'), fed bodies spelled out from the PostgreSQL 15 message formats.
// Truncation and trailing bytes are covered for all of them in
// truncation_test.cc; this file covers values and content rules.

#include "protocol/backend_messages.h"

#include <cstdint>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/protocol/test_bytes.h"

namespace pgvalve::protocol {
namespace {

using testutil::AsSpan;
using testutil::AsText;
using testutil::ByteBuilder;
using testutil::Bytes;
using testutil::CountingBytes;
using testutil::Hex;
using testutil::IsProtocolViolation;
using ::testing::ElementsAre;

TEST(ReadyForQueryTest, EachTransactionStatus) {
  EXPECT_EQ(ParseReadyForQuery(AsSpan("I")).value(), TransactionStatus::kIdle);
  EXPECT_EQ(ParseReadyForQuery(AsSpan("T")).value(), TransactionStatus::kInTransaction);
  EXPECT_EQ(ParseReadyForQuery(AsSpan("E")).value(), TransactionStatus::kFailed);
}

TEST(ReadyForQueryTest, EveryOtherStatusByteIsAProtocolViolation) {
  for (int value = 0; value < 256; ++value) {
    if (value == 'I' || value == 'T' || value == 'E') continue;
    SCOPED_TRACE(fmt::format("status 0x{:02x}", value));
    Bytes body = ByteBuilder().U8(static_cast<uint8_t>(value)).bytes();
    EXPECT_THAT(ParseReadyForQuery(body), IsProtocolViolation());
  }
}

TEST(BackendKeyDataTest, ProtocolThreeZeroFourByteSecret) {
  Bytes body = ByteBuilder().I32(31337).U8(0xde).U8(0xad).U8(0xbe).U8(0xef).bytes();
  absl::StatusOr<BackendKeyData> key = ParseBackendKeyData(body);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->pid, 31337);
  EXPECT_EQ(Hex(key->secret), "de ad be ef");
  EXPECT_EQ(key->secret.data(), body.data() + 4);
}

TEST(BackendKeyDataTest, ProtocolThreeTwoSecretsUpTo256Bytes) {
  for (size_t length : {5, 32, 255, 256}) {
    SCOPED_TRACE(fmt::format("secret of {} bytes", length));
    Bytes secret = CountingBytes(length, 1);
    Bytes body = ByteBuilder().I32(-5).Raw(secret).bytes();
    absl::StatusOr<BackendKeyData> key = ParseBackendKeyData(body);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(key->pid, -5);
    EXPECT_EQ(Hex(key->secret), Hex(secret));
  }
}

TEST(BackendKeyDataTest, SecretsOutsideFourTo256AreProtocolViolations) {
  for (size_t length : {0, 1, 3, 257, 1000}) {
    SCOPED_TRACE(fmt::format("secret of {} bytes", length));
    Bytes body = ByteBuilder().I32(1).Raw(CountingBytes(length)).bytes();
    EXPECT_THAT(ParseBackendKeyData(body), IsProtocolViolation());
  }
}

TEST(BackendKeyDataTest, RewriteReplacesPidAndSecretInPlace) {
  for (size_t length : {4, 32, 256}) {
    SCOPED_TRACE(fmt::format("secret of {} bytes", length));
    Bytes body = ByteBuilder().I32(31337).Raw(CountingBytes(length, 1)).bytes();
    const Bytes minted = CountingBytes(length, 100);
    ASSERT_TRUE(RewriteBackendKeyData(body, -42, minted).ok());
    absl::StatusOr<BackendKeyData> key = ParseBackendKeyData(body);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(key->pid, -42);
    EXPECT_EQ(Hex(key->secret), Hex(minted));
  }
}

TEST(BackendKeyDataTest, RewriteRefusesAKeyOfAnotherLengthAndLeavesTheBodyAlone) {
  Bytes body = ByteBuilder().I32(7).U8(0xde).U8(0xad).U8(0xbe).U8(0xef).bytes();
  const Bytes before = body;
  EXPECT_FALSE(RewriteBackendKeyData(body, 8, CountingBytes(5)).ok());
  EXPECT_EQ(Hex(body), Hex(before));
  Bytes broken = ByteBuilder().I32(7).U8(1).bytes();
  EXPECT_THAT(RewriteBackendKeyData(broken, 8, CountingBytes(1)), IsProtocolViolation());
}

TEST(ParameterStatusTest, NameAndValue) {
  Bytes body = ByteBuilder().Str("server_version").Str("15.4 (Debian 15.4-1)").bytes();
  absl::StatusOr<ParameterStatus> parameter = ParseParameterStatus(body);
  ASSERT_TRUE(parameter.ok()) << parameter.status();
  EXPECT_EQ(parameter->name, "server_version");
  EXPECT_EQ(parameter->value, "15.4 (Debian 15.4-1)");
}

TEST(ParameterStatusTest, EmptyValue) {
  Bytes body = ByteBuilder().Str("application_name").Str("").bytes();
  absl::StatusOr<ParameterStatus> parameter = ParseParameterStatus(body);
  ASSERT_TRUE(parameter.ok()) << parameter.status();
  EXPECT_EQ(parameter->value, "");
}

TEST(ParameterStatusTest, MissingValueIsAProtocolViolation) {
  EXPECT_THAT(ParseParameterStatus(ByteBuilder().Str("TimeZone").bytes()), IsProtocolViolation());
}

TEST(AuthenticationTest, Ok) {
  absl::StatusOr<AuthenticationRequest> auth = ParseAuthenticationRequest(ByteBuilder().I32(0).bytes());
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->code, AuthenticationCode::kOk);
  EXPECT_TRUE(auth->data.empty());
}

TEST(AuthenticationTest, Md5PasswordCarriesTheSalt) {
  Bytes body = ByteBuilder().I32(5).U8(1).U8(2).U8(3).U8(4).bytes();
  absl::StatusOr<AuthenticationRequest> auth = ParseAuthenticationRequest(body);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->code, AuthenticationCode::kMd5Password);
  EXPECT_EQ(Hex(auth->data), "01 02 03 04");
}

TEST(AuthenticationTest, SaslCarriesTheMechanismList) {
  Bytes body = ByteBuilder().I32(10).Str("SCRAM-SHA-256-PLUS").Str("SCRAM-SHA-256").U8(0).bytes();
  absl::StatusOr<AuthenticationRequest> auth = ParseAuthenticationRequest(body);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->code, AuthenticationCode::kSasl);
  EXPECT_EQ(AsText(auth->data), std::string_view("SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0", 34));
}

TEST(AuthenticationTest, SaslContinueAndFinalCarryOpaqueData) {
  constexpr std::string_view kData = "r=abc,s=c2FsdA==,i=4096";
  for (int32_t code : {11, 12}) {
    Bytes body = ByteBuilder().I32(code).Raw(kData).bytes();
    absl::StatusOr<AuthenticationRequest> auth = ParseAuthenticationRequest(body);
    ASSERT_TRUE(auth.ok()) << auth.status();
    EXPECT_EQ(static_cast<int32_t>(auth->code), code);
    EXPECT_EQ(AsText(auth->data), kData);
  }
}

TEST(AuthenticationTest, EmptyBodyIsAProtocolViolation) {
  EXPECT_THAT(ParseAuthenticationRequest({}), IsProtocolViolation());
}

TEST(NegotiateProtocolVersionTest, NoOptions) {
  // PostgreSQL sends the newest version it supports as a whole code
  // (SendNegotiateProtocolVersion writes FrontendProtocol), e.g. 3.0.
  Bytes body = ByteBuilder().I32(3 << 16).I32(0).bytes();
  absl::StatusOr<NegotiateProtocolVersion> negotiate = ParseNegotiateProtocolVersion(body);
  ASSERT_TRUE(negotiate.ok()) << negotiate.status();
  EXPECT_EQ(negotiate->newest_version, 3 << 16);
  EXPECT_TRUE(negotiate->unrecognized_options.empty());
}

TEST(NegotiateProtocolVersionTest, UnrecognizedOptionsInOrder) {
  Bytes body = ByteBuilder().I32(0).I32(2).Str("_pq_.compression").Str("_pq_.x").bytes();
  absl::StatusOr<NegotiateProtocolVersion> negotiate = ParseNegotiateProtocolVersion(body);
  ASSERT_TRUE(negotiate.ok()) << negotiate.status();
  EXPECT_THAT(negotiate->unrecognized_options, ElementsAre("_pq_.compression", "_pq_.x"));
}

TEST(NegotiateProtocolVersionTest, CountThatDoesNotMatchTheOptionsIsAProtocolViolation) {
  // Fewer strings than counted.
  EXPECT_THAT(ParseNegotiateProtocolVersion(ByteBuilder().I32(0).I32(3).Str("a").Str("b").bytes()),
              IsProtocolViolation());
  // More strings than counted: trailing bytes.
  EXPECT_THAT(ParseNegotiateProtocolVersion(ByteBuilder().I32(0).I32(1).Str("a").Str("b").bytes()),
              IsProtocolViolation());
}

TEST(NegotiateProtocolVersionTest, HostileCountsAreRejectedBeforeAllocating) {
  for (int32_t count : {-1, INT32_MIN, INT32_MAX, 1 << 30}) {
    SCOPED_TRACE(fmt::format("count {}", count));
    EXPECT_THAT(ParseNegotiateProtocolVersion(ByteBuilder().I32(0).I32(count).Str("a").bytes()),
                IsProtocolViolation());
  }
}

TEST(ErrorOrNoticeTest, AllFieldsWeActOn) {
  Bytes body = ByteBuilder()
                   .U8('S').Str("FATAL")
                   .U8('V').Str("FATAL")
                   .U8('C').Str("57P01")
                   .U8('M').Str("terminating connection due to administrator command")
                   .U8('D').Str("detail text")
                   .U8('H').Str("hint text")
                   .U8(0)
                   .bytes();
  absl::StatusOr<ErrorFields> fields = ParseErrorOrNotice(body);
  ASSERT_TRUE(fields.ok()) << fields.status();
  EXPECT_EQ(fields->severity, "FATAL");
  EXPECT_EQ(fields->severity_internal, "FATAL");
  EXPECT_EQ(fields->sqlstate, "57P01");
  EXPECT_EQ(fields->message, "terminating connection due to administrator command");
  EXPECT_EQ(fields->detail, "detail text");
  EXPECT_EQ(fields->hint, "hint text");
}

TEST(ErrorOrNoticeTest, OtherFieldsAreSkipped) {
  // Position, file, line and routine as PostgreSQL sends them, plus a code
  // no version defines yet (the docs ask clients to ignore those).
  Bytes body = ByteBuilder()
                   .U8('S').Str("ERROR")
                   .U8('C').Str("42601")
                   .U8('M').Str("syntax error")
                   .U8('P').Str("8")
                   .U8('F').Str("scan.l")
                   .U8('L').Str("1188")
                   .U8('R').Str("scanner_yyerror")
                   .U8('~').Str("future")
                   .U8(0)
                   .bytes();
  absl::StatusOr<ErrorFields> fields = ParseErrorOrNotice(body);
  ASSERT_TRUE(fields.ok()) << fields.status();
  EXPECT_EQ(fields->sqlstate, "42601");
  EXPECT_EQ(fields->message, "syntax error");
  EXPECT_EQ(fields->detail, "");
  EXPECT_EQ(fields->severity_internal, "");
}

TEST(ErrorOrNoticeTest, OnlyTheTerminator) {
  absl::StatusOr<ErrorFields> fields = ParseErrorOrNotice(ByteBuilder().U8(0).bytes());
  ASSERT_TRUE(fields.ok()) << fields.status();
  EXPECT_EQ(fields->message, "");
}

TEST(ErrorOrNoticeTest, EmptyBodyIsAProtocolViolation) {
  EXPECT_THAT(ParseErrorOrNotice({}), IsProtocolViolation());
}

TEST(ErrorOrNoticeTest, FieldValueWithoutTerminatorIsAProtocolViolation) {
  EXPECT_THAT(ParseErrorOrNotice(ByteBuilder().U8('M').Raw("oops").bytes()), IsProtocolViolation());
}

TEST(NotificationResponseTest, PidChannelAndPayload) {
  Bytes body = ByteBuilder().I32(31337).Str("jobs").Str("{\"id\": 7}").bytes();
  absl::StatusOr<NotificationResponse> notification = ParseNotificationResponse(body);
  ASSERT_TRUE(notification.ok()) << notification.status();
  EXPECT_EQ(notification->pid, 31337);
  EXPECT_EQ(notification->channel, "jobs");
  EXPECT_EQ(notification->payload, "{\"id\": 7}");
}

TEST(NotificationResponseTest, EmptyPayload) {
  // NOTIFY without a payload sends an empty string.
  absl::StatusOr<NotificationResponse> notification =
      ParseNotificationResponse(ByteBuilder().I32(7).Str("jobs").Str("").bytes());
  ASSERT_TRUE(notification.ok()) << notification.status();
  EXPECT_EQ(notification->payload, "");
}

TEST(NotificationResponseTest, MissingPayloadIsAProtocolViolation) {
  EXPECT_THAT(ParseNotificationResponse(ByteBuilder().I32(7).Str("jobs").bytes()),
              IsProtocolViolation());
}

TEST(NotificationPidRewriteTest, ChangesThePidAndNothingElse) {
  const Bytes original = ByteBuilder().I32(31337).Str("jobs").Str("payload").bytes();
  Bytes body = original;
  constexpr int32_t kVirtualPid = (1 << 30) + 5;
  ASSERT_TRUE(RewriteNotificationPid(body, kVirtualPid).ok());
  ASSERT_EQ(body.size(), original.size());
  EXPECT_EQ(Hex(std::span(body).first(4)), "40 00 00 05");
  EXPECT_EQ(Hex(std::span(body).subspan(4)), Hex(std::span(original).subspan(4)));
  absl::StatusOr<NotificationResponse> parsed = ParseNotificationResponse(body);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->pid, kVirtualPid);
  EXPECT_EQ(parsed->channel, "jobs");
  EXPECT_EQ(parsed->payload, "payload");
}

TEST(NotificationPidRewriteTest, InvalidBodyIsLeftUntouched) {
  // Pid and channel, but the payload's terminator is missing.
  const Bytes original = ByteBuilder().I32(31337).Str("jobs").Raw("payload").bytes();
  Bytes body = original;
  EXPECT_THAT(RewriteNotificationPid(body, 1 << 30), IsProtocolViolation());
  EXPECT_EQ(Hex(body), Hex(original));
}

}  // namespace
}  // namespace pgvalve::protocol
