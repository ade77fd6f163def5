#include "admin/console/scram_crypto.h"

#include <string>
#include <string_view>
#include <vector>

#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pgvalve::admin {
namespace {

using ::testing::ElementsAreArray;
using ::testing::Optional;

std::span<const uint8_t> U8(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string Hex(std::span<const uint8_t> bytes) {
  std::string text;
  for (uint8_t byte : bytes) text += fmt::format("{:02x}", byte);
  return text;
}

TEST(ScramCryptoTest, Sha256MatchesFips180Vector) {
  EXPECT_EQ(Hex(Sha256(U8("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ScramCryptoTest, HmacSha256MatchesRfc4231Case2) {
  EXPECT_EQ(Hex(HmacSha256(U8("Jefe"), "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(ScramCryptoTest, SaltedPasswordIsPbkdf2HmacSha256) {
  // RFC 7914 section 11: PBKDF2-HMAC-SHA256 (P="passwd", S="salt", c=1);
  // SCRAM takes the first 32 bytes.
  EXPECT_EQ(Hex(ScramSaltedPassword("passwd", U8("salt"), 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
  EXPECT_THROW(ScramSaltedPassword("passwd", U8("salt"), 0), std::invalid_argument);
}

TEST(ScramCryptoTest, ConstantTimeEqualComparesLengthAndContent) {
  EXPECT_TRUE(ConstantTimeEqual(U8("abc"), U8("abc")));
  EXPECT_FALSE(ConstantTimeEqual(U8("abc"), U8("abd")));
  EXPECT_FALSE(ConstantTimeEqual(U8("abc"), U8("ab")));
  EXPECT_TRUE(ConstantTimeEqual(U8(""), U8("")));
}

TEST(ScramCryptoTest, FillRandomFillsTheBuffer) {
  std::array<uint8_t, 32> a{};
  std::array<uint8_t, 32> b{};
  FillRandom(a);
  FillRandom(b);
  EXPECT_NE(a, b);
}

TEST(ScramCryptoTest, Base64EncodesWithPadding) {
  EXPECT_EQ(Base64Encode(U8("")), "");
  EXPECT_EQ(Base64Encode(U8("f")), "Zg==");
  EXPECT_EQ(Base64Encode(U8("fo")), "Zm8=");
  EXPECT_EQ(Base64Encode(U8("foo")), "Zm9v");
  EXPECT_EQ(Base64Encode(U8("n,,")), "biws");
  EXPECT_EQ(Base64Encode(U8("\xff\xfe\xfd")), "//79");
}

TEST(ScramCryptoTest, Base64DecodeDropsPaddingBytes) {
  // EVP_DecodeBlock alone would return "f\0\0" for "Zg==".
  EXPECT_THAT(Base64Decode(""), Optional(std::vector<uint8_t>{}));
  EXPECT_THAT(Base64Decode("Zg=="), Optional(ElementsAreArray(U8("f"))));
  EXPECT_THAT(Base64Decode("Zm8="), Optional(ElementsAreArray(U8("fo"))));
  EXPECT_THAT(Base64Decode("Zm9v"), Optional(ElementsAreArray(U8("foo"))));
  EXPECT_THAT(Base64Decode("Zm9vYmFy"), Optional(ElementsAreArray(U8("foobar"))));
  EXPECT_THAT(Base64Decode("//79"), Optional(ElementsAreArray(U8("\xff\xfe\xfd"))));
}

TEST(ScramCryptoTest, Base64DecodeRejectsAnythingButPaddedStandardBase64) {
  const std::vector<std::string_view> bad = {
      "Zg",     "Zg=",      "Z===",   "====",     "Zg==Zg==", " Zg=",   "Zg== ",         "Zg==\n",
      "Z!==",   "Zm9v-_==", "Zm 9",   "Zm9\t",    "=Zm9",     "Zm=v",   "Zm9vY",         "Zm9vYm",
      "Zm9vY=", "\xff\xff\xff\xff", std::string_view("Zm9\0", 4), std::string_view("\0\0\0\0", 4)};
  for (std::string_view text : bad) {
    EXPECT_EQ(Base64Decode(text), std::nullopt) << '"' << text << '"';
  }
}

TEST(SaslPrepTest, AsciiPassesUnchangedEvenWithControlCharacters) {
  EXPECT_EQ(SaslPrep("pencil"), "pencil");
  EXPECT_EQ(SaslPrep(" spaces  inside "), " spaces  inside ");
  // PostgreSQL skips every step for pure ASCII, so these stay too.
  EXPECT_EQ(SaslPrep("tab\there\x7f"), "tab\there\x7f");
}

TEST(SaslPrepTest, MapsNonAsciiSpacesToSpace) {
  EXPECT_EQ(SaslPrep("pass\u00a0word"), "pass word");
  EXPECT_EQ(SaslPrep("ideographic\u3000space"), "ideographic space");
  // U+200B is in both C.1.2 and B.1; PostgreSQL maps it to a space.
  EXPECT_EQ(SaslPrep("zero\u200bwidth"), "zero width");
}

TEST(SaslPrepTest, RemovesCharactersMappedToNothing) {
  EXPECT_EQ(SaslPrep("soft\u00adhyphen"), "softhyphen");
  EXPECT_EQ(SaslPrep("joiner\u200d\ufeffs\ufe0f"), "joiners");
}

TEST(SaslPrepTest, KeepsCharactersItLeavesAlone) {
  EXPECT_EQ(SaslPrep("P\u00e4ssw\u00f6rd-\u00d1and\u00fa"), "P\u00e4ssw\u00f6rd-\u00d1and\u00fa");
  EXPECT_EQ(SaslPrep("\u043f\u0430\u0440\u043e\u043b\u044c-\u03ba\u03c9\u03b4-\u5bc6\u7801-\ud55c"),
            "\u043f\u0430\u0440\u043e\u043b\u044c-\u03ba\u03c9\u03b4-\u5bc6\u7801-\ud55c");
  EXPECT_EQ(SaslPrep("nbsp\u00a0and\u00e9"), "nbsp and\u00e9");
}

TEST(SaslPrepTest, FallsBackToRawBytesWhenSaslPrepFails) {
  // Invalid UTF-8 after a no-break space (which SASLprep would map, so a
  // result other than the raw bytes shows): a lone continuation byte,
  // overlong forms of '/', a surrogate, a code point above U+10FFFF, a
  // sequence cut short.
  for (std::string_view invalid : {"a\x80z", "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xed\xa0\x80",
                                   "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "ab\xe2\x82"}) {
    const std::string raw = "\u00a0" + std::string(invalid);
    EXPECT_EQ(SaslPrep(raw), raw) << raw;
  }
  // A sequence cut by the end of the view, not of the buffer behind it.
  const std::string_view buffer = "\u00a0\u00e9";
  EXPECT_EQ(SaslPrep(buffer.substr(0, 3)), buffer.substr(0, 3));
  // Prohibited after mapping: a control character in non-ASCII input.
  EXPECT_EQ(SaslPrep("bell\a\u00e9"), "bell\a\u00e9");
  EXPECT_EQ(SaslPrep("pass\u00a0\x01"), "pass\u00a0\x01");
  // Nothing left after mapping.
  EXPECT_EQ(SaslPrep("\u00ad\u200d"), "\u00ad\u200d");
}

TEST(SaslPrepTest, PassesOtherCharactersThroughRaw) {
  // Documented limit: NFKC would compose this to "caf\u00e9"; PostgreSQL's
  // result differs, so such passwords must be configured as a verifier.
  EXPECT_EQ(SaslPrep("cafe\u0301"), "cafe\u0301");
  EXPECT_EQ(SaslPrep("\uff50\uff41\uff53\uff53"), "\uff50\uff41\uff53\uff53");
}

}  // namespace
}  // namespace pgvalve::admin
