// Credentials from configured passwords and verifiers, checked against
// verifiers PostgreSQL 15 itself computed (CREATE ROLE ... PASSWORD with
// password_encryption = scram-sha-256, then pg_authid.rolpassword).

#include <climits>
#include <string>
#include <string_view>

#include "admin/console/scram_authenticator.h"
#include "config/scram_verifier.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/admin/scram_test_client.h"

namespace pgvalve::admin {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

struct PostgresVerifier {
  std::string_view name;
  std::string_view password;
  std::string_view verifier;
};

// Passwords whose result SaslPrep computes exactly.
constexpr PostgresVerifier kExactlyPrepared[] = {
    {"pencil", "pencil",
     "SCRAM-SHA-256$4096:2ynIEcnqsegvjG1tN0UnrQ==$432IuOcT/RCt/zR3eS/qMnxslhEseUaFLNO/l3PhWpY=:"
     "OLyti0/By91W6UZsnMVBdiqwAwflmLILzvtFjVl95dY="},
    {"ascii", "correct horse battery staple",
     "SCRAM-SHA-256$4096:NHjPuWxYnR76dWBbq8xaiA==$dX74Csl/lKwMB4gvZIDgs4ILo18xolZ8MztA55Ir0EM=:"
     "N59BtZuvFj0kBl41IuZlXAzU4xrep9JnnMNziCBr07g="},
    {"latin", "P\u00e4ssw\u00f6rd-\u00d1and\u00fa",
     "SCRAM-SHA-256$4096:EyHxoaC3AngoHWhXx9plUQ==$XwCsKugZSpKCt/0RvUE3uT5CWh4LdvJwL6nMDAzJp9M=:"
     "evaltTTMe4+vKQRUtKziwwzAlgrppgOclQTp+lYGP98="},
    {"cyrillic_greek_cjk",
     "\u043f\u0430\u0440\u043e\u043b\u044c-\u03ba\u03c9\u03b4\u03b9\u03ba\u03cc\u03c2-\u5bc6\u7801",
     "SCRAM-SHA-256$4096:a9cI9V5IV3DGDfpYZuF3Pw==$CbK4msLiSbSUG1VJaP4qHUmSS7rqkf80iF90Dvqwp3U=:"
     "8vTuWkhX+dgb1uxNgyASqMfZFNvSO5U3IzGeEg1UHu4="},
    {"nbsp_mapped_to_space", "pass\u00a0w\u00f6rt",
     "SCRAM-SHA-256$4096:t47512Jl/83LZt6/3SQzOA==$dpFFicb/L+1KKeZakdnRB5MMIgS/957r8JS46uZDaXY=:"
     "6p+q3SpR+cYDRX8RSkQ9wcIQfhpgVG8dAtalg7yHrpk="},
    {"soft_hyphen_removed", "pass\u00adwort\u00e9",
     "SCRAM-SHA-256$4096:1mXy9l4yHG1Po5FfkBDDKA==$xGkXPC7c37TYqJvmE7HjLpq5WNscrwNbzPs5dy459lA=:"
     "Mu7oy/b8QnN6Xki/UKzGEILBrcPrXK7u+RVZjnPuuGo="},
    {"zero_width_space_to_space", "zero\u200bwidth\u00e9",
     "SCRAM-SHA-256$4096:3EYNZuGKea+7TOf2L2UCtA==$O5GYUlHAfO7F8NHj5lNsf37DmyKk2mLNFbLzWmspo0Y=:"
     "Wye0Md0SauoLAX/3SeYOGKPDdX9SBsbVXPBOwEDZ4k8="},
    {"prohibited_control_raw", "pass\aw\u00f6rt",
     "SCRAM-SHA-256$4096:p/M3bpvbhv3CgJG8rxnuqQ==$hMgqJhEG0PLE+wK7obGhCmLKP6Z931MRbYgw58LPSe0=:"
     "nRSy5yfZx571UvNaKktDkghlyCf5UNnApLWpsmqKqAQ="},
    {"empty_after_mapping_raw", "\u00ad",
     "SCRAM-SHA-256$4096:zesbZDkPfz3b3RnBKvZ80A==$slmDAgEsYRXnIrNvb8+Y+Iu/32XZC6yjDUNZPt0THOk=:"
     "OPyrETTiTGrjpNNfsC8B4C9rbcoZdauBEe22a+xuHS0="},
};

// Passwords NFKC changes: beyond SaslPrep's tables (see scram_crypto.h).
constexpr PostgresVerifier kNeedsVerifier[] = {
    {"decomposed_accent", "cafe\u0301",
     "SCRAM-SHA-256$4096:OBfwiuSSXOZJlHw0rGPObg==$qwKfyYXAuCjmt8GNBZmOkw0x7GMJE8HdFrtcKyfqV0g=:"
     "hs2vnaqjrf/SM+61oi2rm3o0Z9yh+Fl+rWKIjdqezCY="},
    {"fullwidth", "\uff50\uff41\uff53\uff53",
     "SCRAM-SHA-256$4096:3w0hwHzDmLG7yKUbrs/COg==$4nKnyCpUObg4h6pmH7R92nBuj/yENeC3XlIUJ4va4aQ=:"
     "MOfPksRy6C23Ist/PCqCR5c3fQzifdvMYG10nr5TZ50="},
};

ScramCredential FromVerifier(std::string_view verifier) {
  absl::StatusOr<ScramCredential> credential = CredentialFromConfig(verifier);
  EXPECT_TRUE(credential.ok()) << credential.status();
  return credential.ok() ? *credential : ScramCredential{};
}

// The credential pgvalve derives from `password` with PostgreSQL's salt.
ScramCredential RederivedWithSameSalt(const PostgresVerifier& expected) {
  const ScramCredential postgres = FromVerifier(expected.verifier);
  return DeriveScramCredential(expected.password, postgres.salt, postgres.iterations);
}

TEST(ScramCredentialTest, DerivesWhatPostgresDerives) {
  for (const PostgresVerifier& expected : kExactlyPrepared) {
    SCOPED_TRACE(expected.name);
    const ScramCredential derived = RederivedWithSameSalt(expected);
    const ScramCredential postgres = FromVerifier(expected.verifier);
    EXPECT_EQ(derived.stored_key, postgres.stored_key);
    EXPECT_EQ(derived.server_key, postgres.server_key);
    // Same salt, same keys: the same text, byte for byte.
    EXPECT_EQ(FormatScramVerifier(derived), expected.verifier);
  }
}

TEST(ScramCredentialTest, PasswordsNfkcChangesDifferFromPostgresAsDocumented) {
  for (const PostgresVerifier& expected : kNeedsVerifier) {
    SCOPED_TRACE(expected.name);
    EXPECT_NE(RederivedWithSameSalt(expected).stored_key, FromVerifier(expected.verifier).stored_key);
  }
}

TEST(ScramCredentialTest, PostgresVerifierIsTakenAsIs) {
  const ScramCredential credential = FromVerifier(kExactlyPrepared[0].verifier);
  EXPECT_EQ(credential.iterations, 4096);
  EXPECT_EQ(testutil::ToBase64(std::string(credential.salt.begin(), credential.salt.end())),
            "2ynIEcnqsegvjG1tN0UnrQ==");
  EXPECT_EQ(FormatScramVerifier(credential), kExactlyPrepared[0].verifier);
}

TEST(ScramCredentialTest, PlainPasswordGetsFreshSaltAndDefaultIterations) {
  absl::StatusOr<ScramCredential> first = CredentialFromConfig("pencil");
  absl::StatusOr<ScramCredential> second = CredentialFromConfig("pencil");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(first->salt.size(), kScramSaltLength);
  EXPECT_EQ(first->iterations, kScramDefaultIterations);
  EXPECT_NE(first->salt, second->salt);
  EXPECT_NE(first->stored_key, second->stored_key);
  // The salt is all that differs: the keys follow from it.
  EXPECT_EQ(DeriveScramCredential("pencil", first->salt, 4096).stored_key, first->stored_key);
}

TEST(ScramCredentialTest, MakeScramVerifierMakesAVerifierThatParses) {
  const std::string verifier = MakeScramVerifier("pencil");
  EXPECT_THAT(verifier, MatchesRegex("SCRAM-SHA-256\\$4096:[A-Za-z0-9+/]{22}==\\$"
                                     "[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}="));
  EXPECT_TRUE(config::ParseScramVerifier(verifier).ok());
  const ScramCredential credential = FromVerifier(verifier);
  EXPECT_EQ(DeriveScramCredential("pencil", credential.salt, credential.iterations).stored_key,
            credential.stored_key);
  EXPECT_NE(MakeScramVerifier("pencil"), verifier);  // fresh salt
  EXPECT_THAT(MakeScramVerifier("pencil", 10000), ::testing::StartsWith("SCRAM-SHA-256$10000:"));
}

TEST(ScramCredentialTest, RejectsPasswordsNoClientCouldSend) {
  EXPECT_FALSE(CredentialFromConfig("").ok());
  const absl::StatusOr<ScramCredential> with_nul = CredentialFromConfig(std::string_view("sec\0ret", 7));
  ASSERT_FALSE(with_nul.ok());
  EXPECT_THAT(std::string(with_nul.status().message()), Not(HasSubstr("sec")));
}

TEST(ScramCredentialTest, MalformedVerifierIsAnErrorThatDoesNotEchoIt) {
  const absl::StatusOr<ScramCredential> credential =
      CredentialFromConfig("SCRAM-SHA-256$4096:c2FsdA==$secretkeymaterial:more");
  ASSERT_FALSE(credential.ok());
  EXPECT_THAT(std::string(credential.status().message()), HasSubstr("malformed SCRAM-SHA-256 verifier"));
  EXPECT_THAT(std::string(credential.status().message()), Not(HasSubstr("secretkeymaterial")));
}

TEST(ScramCredentialTest, RejectsIterationCountsBeyondInt) {
  const std::string verifier(kExactlyPrepared[0].verifier);
  const std::string huge = "SCRAM-SHA-256$4294967295" + verifier.substr(verifier.find(':'));
  ASSERT_TRUE(config::ParseScramVerifier(huge).ok());
  EXPECT_FALSE(CredentialFromConfig(huge).ok());
  const std::string largest = "SCRAM-SHA-256$2147483647" + verifier.substr(verifier.find(':'));
  absl::StatusOr<ScramCredential> credential = CredentialFromConfig(largest);
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ(credential->iterations, INT_MAX);
}

}  // namespace
}  // namespace pgvalve::admin
