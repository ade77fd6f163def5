#include "config/scram_verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace pgvalve::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kSalt = "MDEyMzQ1Njc4OWFiY2RlZg==";  // "0123456789abcdef"
constexpr const char* kStoredKey =
    "ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs=";
constexpr const char* kServerKey =
    "PiPoFgA5WUoziU9lZOGxNIu9egCI1CxKy3PurtWcAJ0=";

std::string Verifier(const char* iterations, const char* salt,
                     const char* stored, const char* server) {
  return absl::StrCat("SCRAM-SHA-256$", iterations, ":", salt, "$", stored, ":",
                      server);
}

TEST(ScramVerifierTest, ParsesWellFormedVerifier) {
  const absl::StatusOr<ScramVerifier> verifier =
      ParseScramVerifier(Verifier("4096", kSalt, kStoredKey, kServerKey));
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ(verifier->iterations, 4096u);
  EXPECT_EQ(verifier->salt, "0123456789abcdef");
  EXPECT_EQ(verifier->stored_key.size(), kScramKeySize);
  EXPECT_EQ(verifier->server_key.size(), kScramKeySize);
}

TEST(ScramVerifierTest, RejectsMalformedParts) {
  const std::vector<std::string> bad = {
      "SCRAM-SHA-256$",
      Verifier("0", kSalt, kStoredKey, kServerKey),
      Verifier("x", kSalt, kStoredKey, kServerKey),
      Verifier("4096", "not base64!", kStoredKey, kServerKey),
      Verifier("4096", "", kStoredKey, kServerKey),
      Verifier("4096", kSalt, kSalt, kServerKey),  // 16 bytes, not 32
      Verifier("4096", kSalt, kStoredKey,
               "PiPoFgA5WUoziU9lZOGxNIu9egCI1CxKy3PurtWcAJ0"),
      absl::StrCat(Verifier("4096", kSalt, kStoredKey, kServerKey), "$x"),
      absl::StrCat("SCRAM-SHA-256$4096$", kStoredKey, ":", kServerKey),
  };
  for (const std::string& text : bad) {
    const absl::StatusOr<ScramVerifier> verifier = ParseScramVerifier(text);
    ASSERT_FALSE(verifier.ok()) << text;
    EXPECT_THAT(std::string(verifier.status().message()),
                HasSubstr("malformed SCRAM-SHA-256 verifier"));
  }
}

TEST(ScramVerifierTest, ErrorsDoNotEchoTheVerifier) {
  const absl::StatusOr<ScramVerifier> verifier =
      ParseScramVerifier(Verifier("4096", kSalt, kStoredKey, "short"));
  ASSERT_FALSE(verifier.ok());
  EXPECT_THAT(std::string(verifier.status().message()),
              Not(HasSubstr(kStoredKey)));
}

TEST(ScramVerifierTest, OnlyThePrefixMakesAVerifier) {
  EXPECT_TRUE(LooksLikeScramVerifier("SCRAM-SHA-256$x"));
  EXPECT_FALSE(LooksLikeScramVerifier("scram-sha-256$x"));
  EXPECT_FALSE(LooksLikeScramVerifier("change-me"));
}

}  // namespace
}  // namespace pgvalve::config
