// Truncate every message at every offset: each valid message of every parsed
// type is fed to its parser cut short at each byte, and must be rejected with
// 08P01 (and must not crash; the sanitizer build checks the reads). Parsers
// whose layout ends in a terminator or a fixed field must also reject
// trailing bytes.
//
// Where the layout ends in "the rest of the message" (a 3.2 cancel secret,
// SASL data), a cut copy that still holds the shortest allowed tail is a
// valid shorter message: the length field is the only delimiter. For those
// the cut is checked to fail exactly below that point.

#include <algorithm>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/backend_messages.h"
#include "protocol/startup_packet.h"
#include "tests/unit/protocol/test_bytes.h"

namespace pgvalve::protocol {
namespace {

using testutil::ByteBuilder;
using testutil::Bytes;
using testutil::CountingBytes;
using testutil::IsProtocolViolation;

using Parser = std::function<absl::Status(std::span<const std::byte>)>;

template <typename Parse>
Parser StatusOnly(Parse parse) {
  return [parse](std::span<const std::byte> body) { return parse(body).status(); };
}

constexpr size_t kSelfDelimiting = static_cast<size_t>(-1);

struct TruncationCase {
  std::string name;
  Parser parse;
  Bytes body;  // valid as a whole
  // Cut copies at least this long are valid messages with a shorter tail.
  size_t valid_from = kSelfDelimiting;
  // The layout ends in a terminator or a fixed field, so appended bytes must
  // be rejected.
  bool rejects_trailing_bytes = true;
};

void PrintTo(const TruncationCase& c, std::ostream* os) { *os << c.name; }

Bytes StartupMessageBody() {
  return ByteBuilder()
      .I32(3 << 16)
      .Str("user").Str("alice")
      .Str("database").Str("orders")
      .Str("application_name").Str("psql")
      .U8(0)
      .bytes();
}

std::vector<TruncationCase> AllCases() {
  const Parser startup = StatusOnly(ParseStartupPacket);
  const Parser authentication = StatusOnly(ParseAuthenticationRequest);
  const Parser error_or_notice = StatusOnly(ParseErrorOrNotice);
  // The rewrite works on a copy: it must reject what the parser rejects.
  const Parser rewrite_notification = [](std::span<const std::byte> body) {
    Bytes copy(body.begin(), body.end());
    return RewriteNotificationPid(copy, 1 << 30);
  };
  const Bytes notification = ByteBuilder().I32(4242).Str("jobs").Str("{\"id\": 7}").bytes();
  Bytes error_fields = ByteBuilder()
                           .U8('S').Str("ERROR").U8('V').Str("ERROR").U8('C').Str("42P01")
                           .U8('M').Str("relation \"t\" does not exist").U8('P').Str("15")
                           .U8(0)
                           .bytes();
  return {
      {"StartupMessage", startup, StartupMessageBody()},
      {"StartupMessage32", startup,
       ByteBuilder().I32((3 << 16) | 2).Str("user").Str("u").Str("_pq_.x").Str("").U8(0).bytes()},
      {"SSLRequest", startup, ByteBuilder().I32(80877103).bytes()},
      {"GSSENCRequest", startup, ByteBuilder().I32(80877104).bytes()},
      // A fifth secret byte would be a valid 3.2 secret.
      {"CancelRequest4", startup, ByteBuilder().I32(80877102).I32(77).Raw(CountingBytes(4)).bytes(),
       kSelfDelimiting, false},
      // Code, pid and the shortest secret: 12 bytes.
      {"CancelRequest256", startup, ByteBuilder().I32(80877102).I32(77).Raw(CountingBytes(256)).bytes(),
       12},
      // Each authentication request has its own exact layout:
      // AuthenticationOk is exactly Int32(0).
      {"AuthenticationOk", authentication, ByteBuilder().I32(0).bytes()},
      // AuthenticationCleartextPassword is exactly Int32(3).
      {"AuthenticationCleartextPassword", authentication, ByteBuilder().I32(3).bytes()},
      // AuthenticationMD5Password is exactly Int32(5) and a 4-byte salt.
      {"AuthenticationMD5Password", authentication, ByteBuilder().I32(5).U8(1).U8(2).U8(3).U8(4).bytes()},
      // The AuthenticationSASL mechanism list is ended by an empty string.
      {"AuthenticationSASL", authentication,
       ByteBuilder().I32(10).Str("SCRAM-SHA-256-PLUS").Str("SCRAM-SHA-256").U8(0).bytes()},
      {"AuthenticationSASLContinue", authentication,
       ByteBuilder().I32(11).Raw("r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096").bytes(), 4, false},
      {"AuthenticationSASLFinal", authentication,
       ByteBuilder().I32(12).Raw("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=").bytes(), 4, false},
      {"BackendKeyData4", StatusOnly(ParseBackendKeyData), ByteBuilder().I32(4242).Raw(CountingBytes(4)).bytes(),
       kSelfDelimiting, false},
      {"BackendKeyData256", StatusOnly(ParseBackendKeyData),
       ByteBuilder().I32(4242).Raw(CountingBytes(256)).bytes(), 8},
      {"ParameterStatus", StatusOnly(ParseParameterStatus),
       ByteBuilder().Str("server_version").Str("15.4").bytes()},
      {"ReadyForQuery", StatusOnly(ParseReadyForQuery), ByteBuilder().U8('I').bytes()},
      {"ErrorResponse", error_or_notice, error_fields},
      {"NoticeResponse", error_or_notice,
       ByteBuilder().U8('S').Str("NOTICE").U8('C').Str("00000").U8('M').Str("hello").U8(0).bytes()},
      {"NotificationResponse", StatusOnly(ParseNotificationResponse), notification},
      {"NotificationResponseEmptyPayload", StatusOnly(ParseNotificationResponse),
       ByteBuilder().I32(4242).Str("jobs").Str("").bytes()},
      {"NotificationPidRewrite", rewrite_notification, notification},
      {"NegotiateProtocolVersion", StatusOnly(ParseNegotiateProtocolVersion),
       ByteBuilder().I32(3 << 16).I32(2).Str("_pq_.a").Str("_pq_.b").bytes()},
      {"NegotiateProtocolVersionNoOptions", StatusOnly(ParseNegotiateProtocolVersion),
       ByteBuilder().I32((3 << 16) | 2).I32(0).bytes()},
  };
}

std::vector<TruncationCase> CasesThatRejectTrailingBytes() {
  std::vector<TruncationCase> cases = AllCases();
  std::erase_if(cases, [](const TruncationCase& c) { return !c.rejects_trailing_bytes; });
  return cases;
}

std::string CaseName(const ::testing::TestParamInfo<TruncationCase>& info) { return info.param.name; }

class TruncationTest : public ::testing::TestWithParam<TruncationCase> {};

TEST_P(TruncationTest, WholeMessageParses) {
  absl::Status status = GetParam().parse(GetParam().body);
  EXPECT_TRUE(status.ok()) << status;
}

TEST_P(TruncationTest, EveryStrictPrefixIsAProtocolViolation) {
  const TruncationCase& c = GetParam();
  std::vector<size_t> wrongly_accepted;
  std::vector<size_t> wrongly_rejected;
  for (size_t length = 0; length < c.body.size(); ++length) {
    // A copy of exactly `length` bytes, so the sanitizers see any read past it.
    Bytes prefix(c.body.begin(), c.body.begin() + static_cast<std::ptrdiff_t>(length));
    absl::Status status = c.parse(prefix);
    if (length >= c.valid_from) {
      if (!status.ok()) wrongly_rejected.push_back(length);
      continue;
    }
    if (status.ok()) {
      wrongly_accepted.push_back(length);
      continue;
    }
    EXPECT_THAT(status, IsProtocolViolation()) << "prefix of " << length << " bytes";
  }
  EXPECT_THAT(wrongly_accepted, ::testing::IsEmpty())
      << "lengths of the prefixes of the " << c.body.size() << "-byte body that parsed as OK";
  EXPECT_THAT(wrongly_rejected, ::testing::IsEmpty())
      << "lengths of the prefixes that hold a valid shorter message but were rejected";
}

INSTANTIATE_TEST_SUITE_P(Messages, TruncationTest, ::testing::ValuesIn(AllCases()), CaseName);

class TrailingBytesTest : public ::testing::TestWithParam<TruncationCase> {};

TEST_P(TrailingBytesTest, TrailingGarbageIsAProtocolViolation) {
  const TruncationCase& c = GetParam();
  for (std::string_view garbage : {std::string_view("\0", 1), std::string_view("x"),
                                   std::string_view("garbage\0", 8)}) {
    Bytes longer = testutil::Concat(c.body, testutil::AsSpan(garbage));
    EXPECT_THAT(c.parse(longer), IsProtocolViolation()) << garbage.size() << " extra bytes";
  }
}

INSTANTIATE_TEST_SUITE_P(Messages, TrailingBytesTest, ::testing::ValuesIn(CasesThatRejectTrailingBytes()),
                         CaseName);

// The tails of a 3.2 CancelRequest and BackendKeyData: what is left after a
// cut is exactly what the parser reports as the secret.
TEST(VariableTailTruncationTest, CancelRequestSecretIsWhatIsLeft) {
  Bytes body = ByteBuilder().I32(80877102).I32(77).Raw(CountingBytes(256, 1)).bytes();
  for (size_t length = 12; length <= body.size(); ++length) {
    Bytes prefix(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(length));
    absl::StatusOr<StartupPacket> packet = ParseStartupPacket(prefix);
    ASSERT_TRUE(packet.ok()) << packet.status();
    EXPECT_EQ(std::get<CancelRequest>(*packet).secret.size(), length - 8);
  }
}

TEST(VariableTailTruncationTest, BackendKeyDataSecretIsWhatIsLeft) {
  Bytes body = ByteBuilder().I32(4242).Raw(CountingBytes(256, 1)).bytes();
  for (size_t length = 8; length <= body.size(); ++length) {
    Bytes prefix(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(length));
    absl::StatusOr<BackendKeyData> key = ParseBackendKeyData(prefix);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(key->secret.size(), length - 4);
  }
}

}  // namespace
}  // namespace pgvalve::protocol
