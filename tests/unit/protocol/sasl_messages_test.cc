// The SASL pieces the authentication relay reads: the server's mechanism
// list, which pgvalve may rewrite, and the client's choice.

#include "protocol/sasl_messages.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "protocol/protocol_error.h"
#include "tests/unit/protocol/test_bytes.h"

namespace pgvalve::protocol {
namespace {

using ::testing::ElementsAre;
using testutil::AsSpan;
using testutil::ByteBuilder;
using testutil::Hex;

constexpr std::string_view kOffer("SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0", 34);

TEST(SaslMessagesTest, ParsesTheMechanismList) {
  absl::StatusOr<std::vector<std::string_view>> mechanisms = ParseSaslMechanisms(AsSpan(kOffer));
  ASSERT_TRUE(mechanisms.ok()) << mechanisms.status();
  EXPECT_THAT(*mechanisms, ElementsAre(kScramSha256Plus, kScramSha256));
}

TEST(SaslMessagesTest, EveryStrictPrefixOfTheListAndTrailingBytesAreRefused) {
  for (size_t length = 0; length < kOffer.size(); ++length) {
    absl::StatusOr<std::vector<std::string_view>> mechanisms =
        ParseSaslMechanisms(AsSpan(kOffer.substr(0, length)));
    EXPECT_FALSE(mechanisms.ok()) << "prefix of " << length << " bytes";
    if (!mechanisms.ok()) {
      EXPECT_EQ(SqlStateOf(mechanisms.status()), "08P01");
    }
  }
  EXPECT_FALSE(ParseSaslMechanisms(AsSpan(std::string(kOffer) + "x")).ok());
}

TEST(SaslMessagesTest, WritesAnOfferWithoutPlus) {
  MessageWriter writer;
  AppendAuthenticationSasl(writer, {kScramSha256});
  const auto expected = ByteBuilder().Tag('R').I32(4 + 4 + 14 + 1).I32(10).Str("SCRAM-SHA-256").U8(0).bytes();
  EXPECT_EQ(Hex(writer.bytes()), Hex(expected));
}

TEST(SaslMessagesTest, ParsesTheClientsChoiceAndItsChannelBindingFlag) {
  const std::string first = "y,,n=,r=abc";
  const auto body = ByteBuilder().Str("SCRAM-SHA-256").I32(static_cast<int32_t>(first.size())).Raw(first).bytes();
  absl::StatusOr<SaslInitialResponse> response = ParseSaslInitialResponse(body);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->mechanism, kScramSha256);
  EXPECT_EQ(testutil::AsText(response->data), first);
  EXPECT_EQ(ScramChannelBindingFlag(response->data), 'y');
  for (size_t length = 0; length < body.size(); ++length) {
    EXPECT_FALSE(ParseSaslInitialResponse(std::span(body).first(length)).ok())
        << "prefix of " << length << " bytes";
  }
}

TEST(SaslMessagesTest, NoDataAndNegativeLengths) {
  const auto without = ByteBuilder().Str("SCRAM-SHA-256").I32(-1).bytes();
  absl::StatusOr<SaslInitialResponse> response = ParseSaslInitialResponse(without);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_TRUE(response->data.empty());
  EXPECT_EQ(ScramChannelBindingFlag(response->data), std::nullopt);
  EXPECT_FALSE(ParseSaslInitialResponse(ByteBuilder().Str("SCRAM-SHA-256").I32(-2).bytes()).ok());
  EXPECT_EQ(ScramChannelBindingFlag(AsSpan("x,,n=")), std::nullopt);
  EXPECT_EQ(ScramChannelBindingFlag(AsSpan("p=tls-server-end-point,,n=")), 'p');
}

}  // namespace
}  // namespace pgvalve::protocol
