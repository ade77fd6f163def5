// The startup family: StartupMessage, SSLRequest, GSSENCRequest and
// CancelRequest, parsed from the body after the length field. Each rejection
// carries the SQLSTATE PostgreSQL itself would send (backend_startup.c).

#include "protocol/startup_packet.h"

#include <cstdint>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/message_reader.h"
#include "tests/unit/protocol/test_bytes.h"

namespace pgvalve::protocol {
namespace {

using testutil::ByteBuilder;
using testutil::Bytes;
using testutil::CountingBytes;
using testutil::HasSqlState;
using testutil::Hex;
using testutil::IsProtocolViolation;
using ::testing::ElementsAre;
using ::testing::Pair;

using Parameters = std::vector<std::pair<std::string_view, std::string_view>>;

// The body of a StartupMessage: version code, name/value pairs, a lone NUL.
Bytes StartupBody(int32_t code, const Parameters& parameters) {
  ByteBuilder body;
  body.I32(code);
  for (const auto& [name, value] : parameters) body.Str(name).Str(value);
  body.U8(0);
  return body.bytes();
}

constexpr int32_t kProtocol30 = 3 << 16;
constexpr int32_t kProtocol32 = (3 << 16) | 2;

bool PointsInto(std::string_view text, const Bytes& body) {
  const auto* begin = reinterpret_cast<const char*>(body.data());
  return text.data() >= begin && text.data() + text.size() <= begin + body.size();
}

TEST(StartupPacketTest, StartupMessageWithUserDatabaseAndApplicationName) {
  Bytes body = StartupBody(kProtocol30, {{"user", "alice"},
                                         {"database", "orders"},
                                         {"application_name", "psql"},
                                         {"client_encoding", "UTF8"}});
  absl::StatusOr<StartupPacket> packet = ParseStartupPacket(body);
  ASSERT_TRUE(packet.ok()) << packet.status();
  const auto* startup = std::get_if<StartupMessage>(&*packet);
  ASSERT_NE(startup, nullptr);
  EXPECT_EQ(startup->version.major, 3);
  EXPECT_EQ(startup->version.minor, 0);
  EXPECT_EQ(startup->user(), "alice");
  EXPECT_EQ(startup->database(), "orders");
  EXPECT_EQ(startup->application_name(), "psql");
  EXPECT_EQ(startup->Parameter("client_encoding"), "UTF8");
  EXPECT_EQ(startup->Parameter("options"), "");
  EXPECT_THAT(startup->parameters,
              ElementsAre(Pair("user", "alice"), Pair("database", "orders"),
                          Pair("application_name", "psql"), Pair("client_encoding", "UTF8")));
  for (const auto& [name, value] : startup->parameters) {
    EXPECT_TRUE(PointsInto(name, body)) << "parameters must be views into the packet";
    EXPECT_TRUE(PointsInto(value, body));
  }
}

TEST(StartupPacketTest, DatabaseDefaultsToUser) {
  Bytes body = StartupBody(kProtocol30, {{"user", "bob"}});
  absl::StatusOr<StartupPacket> packet = ParseStartupPacket(body);
  ASSERT_TRUE(packet.ok()) << packet.status();
  EXPECT_EQ(std::get<StartupMessage>(*packet).database(), "bob");
  EXPECT_EQ(std::get<StartupMessage>(*packet).application_name(), "");
}

TEST(StartupPacketTest, EmptyDatabaseDefaultsToUser) {
  Bytes body = StartupBody(kProtocol30, {{"database", ""}, {"user", "bob"}});
  absl::StatusOr<StartupPacket> packet = ParseStartupPacket(body);
  ASSERT_TRUE(packet.ok()) << packet.status();
  EXPECT_EQ(std::get<StartupMessage>(*packet).database(), "bob");
}

TEST(StartupPacketTest, EmptyValuesAndUnusualNamesAreKept) {
  Bytes body = StartupBody(kProtocol30, {{"user", "u"}, {"options", ""}, {"_pq_.x", "1"}});
  absl::StatusOr<StartupPacket> packet = ParseStartupPacket(body);
  ASSERT_TRUE(packet.ok()) << packet.status();
  EXPECT_THAT(std::get<StartupMessage>(*packet).parameters,
              ElementsAre(Pair("user", "u"), Pair("options", ""), Pair("_pq_.x", "1")));
}

// PostgreSQL's ProcessStartupPacket assigns port->user_name and
// port->database_name for every occurrence, so the last one wins. If pgvalve
// authorized one name and the server (receiving the client's parameters)
// logged in as another, the proxy's checks would be bypassed.
TEST(StartupPacketTest, DuplicateUserIsRejectedOrResolvedAsPostgresDoes) {
  Bytes body = StartupBody(kProtocol30, {{"user", "alice"},
                                         {"database", "app"},
                                         {"user", "postgres"},
                                         {"database", "postgres"}});
  absl::StatusOr<StartupPacket> packet = ParseStartupPacket(body);
  if (!packet.ok()) {
    EXPECT_THAT(packet.status(), IsProtocolViolation());
    return;
  }
  const StartupMessage& startup = std::get<StartupMessage>(*packet);
  EXPECT_EQ(startup.user(), "postgres");
  EXPECT_EQ(startup.database(), "postgres");
}

TEST(StartupPacketTest, MinorVersionTwoIsAcceptedAndPreserved) {
  Bytes body = StartupBody(kProtocol32, {{"user", "alice"}});
  absl::StatusOr<StartupPacket> packet = ParseStartupPacket(body);
  ASSERT_TRUE(packet.ok()) << packet.status();
  const StartupMessage& startup = std::get<StartupMessage>(*packet);
  EXPECT_EQ(startup.version.major, 3);
  EXPECT_EQ(startup.version.minor, 2);
  EXPECT_EQ(startup.version.Code(), kProtocol32);
}

TEST(StartupPacketTest, AnyMinorVersionOfThreeIsAccepted) {
  // The server answers a newer minor with NegotiateProtocolVersion; the
  // parser only has to keep the number.
  Bytes body = StartupBody((3 << 16) | 0xffff, {{"user", "alice"}});
  absl::StatusOr<StartupPacket> packet = ParseStartupPacket(body);
  ASSERT_TRUE(packet.ok()) << packet.status();
  EXPECT_EQ(std::get<StartupMessage>(*packet).version.minor, 0xffff);
}

TEST(StartupPacketTest, OtherMajorVersionsAreNotSupported) {
  for (int32_t code : {2 << 16, (2 << 16) | 3, 4 << 16, 0, 1,
                       static_cast<int32_t>(0xffff0000u),
                       // An unknown special request code is just a very odd version.
                       (1234 << 16) | 5681}) {
    SCOPED_TRACE(fmt::format("code 0x{:08x}", static_cast<uint32_t>(code)));
    EXPECT_THAT(ParseStartupPacket(StartupBody(code, {{"user", "alice"}})), HasSqlState("0A000"));
  }
}

TEST(StartupPacketTest, MissingUserIsAnAuthorizationError) {
  EXPECT_THAT(ParseStartupPacket(StartupBody(kProtocol30, {})), HasSqlState("28000"));
  EXPECT_THAT(ParseStartupPacket(StartupBody(kProtocol30, {{"database", "app"}})), HasSqlState("28000"));
  EXPECT_THAT(ParseStartupPacket(StartupBody(kProtocol30, {{"user", ""}})), HasSqlState("28000"));
}

TEST(StartupPacketTest, MissingFinalTerminatorIsAProtocolViolation) {
  Bytes body = ByteBuilder().I32(kProtocol30).Str("user").Str("alice").bytes();
  EXPECT_THAT(ParseStartupPacket(body), IsProtocolViolation());
}

TEST(StartupPacketTest, NameWithoutValueIsAProtocolViolation) {
  Bytes body = ByteBuilder().I32(kProtocol30).Str("user").Str("alice").Str("database").bytes();
  EXPECT_THAT(ParseStartupPacket(body), IsProtocolViolation());
}

TEST(StartupPacketTest, BytesAfterTheTerminatorAreAProtocolViolation) {
  // PostgreSQL: "invalid startup packet layout: expected terminator as last byte".
  Bytes body = StartupBody(kProtocol30, {{"user", "alice"}});
  body.push_back(std::byte{0});
  EXPECT_THAT(ParseStartupPacket(body), IsProtocolViolation());
  body.back() = std::byte{'x'};
  EXPECT_THAT(ParseStartupPacket(body), IsProtocolViolation());
}

TEST(StartupPacketTest, EmptyBodyIsAProtocolViolation) {
  EXPECT_THAT(ParseStartupPacket({}), IsProtocolViolation());
}

TEST(StartupPacketTest, SslRequest) {
  Bytes body = ByteBuilder().I32(80877103).bytes();
  absl::StatusOr<StartupPacket> packet = ParseStartupPacket(body);
  ASSERT_TRUE(packet.ok()) << packet.status();
  EXPECT_TRUE(std::holds_alternative<SslRequest>(*packet));
}

TEST(StartupPacketTest, GssEncRequest) {
  Bytes body = ByteBuilder().I32(80877104).bytes();
  absl::StatusOr<StartupPacket> packet = ParseStartupPacket(body);
  ASSERT_TRUE(packet.ok()) << packet.status();
  EXPECT_TRUE(std::holds_alternative<GssEncRequest>(*packet));
}

TEST(StartupPacketTest, SslAndGssEncRequestWithTrailingBytesAreProtocolViolations) {
  for (int32_t code : {kSslRequestCode, kGssEncRequestCode}) {
    for (size_t extra = 1; extra <= 8; ++extra) {
      SCOPED_TRACE(fmt::format("code {}, {} extra bytes", code, extra));
      Bytes body = ByteBuilder().I32(code).Fill(extra, 0).bytes();
      EXPECT_THAT(ParseStartupPacket(body), IsProtocolViolation());
    }
  }
}

TEST(StartupPacketTest, RequestCodesMatchTheDocumentation) {
  EXPECT_EQ(kCancelRequestCode, 80877102);
  EXPECT_EQ(kSslRequestCode, 80877103);
  EXPECT_EQ(kGssEncRequestCode, 80877104);
}

TEST(StartupPacketTest, CancelRequestWithEverySecretLengthFromFourTo256) {
  for (size_t secret_length = kMinCancelSecretLength; secret_length <= kMaxCancelSecretLength;
       ++secret_length) {
    SCOPED_TRACE(fmt::format("secret of {} bytes", secret_length));
    Bytes secret = CountingBytes(secret_length, 7);
    Bytes body = ByteBuilder().I32(80877102).I32(-12345).Raw(secret).bytes();
    absl::StatusOr<StartupPacket> packet = ParseStartupPacket(body);
    ASSERT_TRUE(packet.ok()) << packet.status();
    const CancelRequest& cancel = std::get<CancelRequest>(*packet);
    EXPECT_EQ(cancel.pid, -12345);
    EXPECT_EQ(Hex(cancel.secret), Hex(secret));
    EXPECT_EQ(cancel.secret.data(), body.data() + 8) << "the secret must be a view into the packet";
  }
}

TEST(StartupPacketTest, CancelRequestSecretsOutsideFourTo256AreProtocolViolations) {
  for (size_t secret_length : {0, 1, 3, 257, 300}) {
    SCOPED_TRACE(fmt::format("secret of {} bytes", secret_length));
    Bytes body = ByteBuilder().I32(80877102).I32(1).Raw(CountingBytes(secret_length)).bytes();
    EXPECT_THAT(ParseStartupPacket(body), IsProtocolViolation());
  }
}

TEST(StartupPacketTest, AppendCancelRequestLayout) {
  // CancelRequest: Int32(16), Int32(80877102), Int32 pid, Int32 secret.
  MessageWriter writer;
  Bytes secret = CountingBytes(4, 0xa0);
  AppendCancelRequest(writer, 0x01020304, secret);
  EXPECT_EQ(Hex(writer.bytes()), "00 00 00 10 04 d2 16 2e 01 02 03 04 a0 a1 a2 a3");
}

TEST(StartupPacketTest, AppendCancelRequestParsesBack) {
  for (size_t secret_length : {4, 5, 32, 255, 256}) {
    for (int32_t pid : {0, 1, 4242, -1, INT32_MAX, INT32_MIN}) {
      SCOPED_TRACE(fmt::format("pid {}, secret of {} bytes", pid, secret_length));
      Bytes secret = CountingBytes(secret_length, static_cast<uint8_t>(secret_length));
      MessageWriter writer;
      AppendCancelRequest(writer, pid, secret);
      std::span<const std::byte> packet = writer.bytes();
      ASSERT_GE(packet.size(), 8u);
      absl::StatusOr<uint32_t> length = ParseStartupPacketLength(packet.first<4>());
      ASSERT_TRUE(length.ok()) << length.status();
      EXPECT_EQ(*length, packet.size());
      absl::StatusOr<StartupPacket> parsed = ParseStartupPacket(packet.subspan(4));
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      const CancelRequest& cancel = std::get<CancelRequest>(*parsed);
      EXPECT_EQ(cancel.pid, pid);
      EXPECT_EQ(Hex(cancel.secret), Hex(secret));
    }
  }
}

TEST(StartupPacketTest, ProtocolVersionCode) {
  EXPECT_EQ((ProtocolVersion{3, 0}.Code()), 196608);
  EXPECT_EQ((ProtocolVersion{3, 2}.Code()), 196610);
  EXPECT_EQ((ProtocolVersion{1234, 5679}.Code()), kSslRequestCode);
}

}  // namespace
}  // namespace pgvalve::protocol
