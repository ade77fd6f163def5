#include "admin/console/scram_authenticator.h"

#include <string>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/admin/scram_test_client.h"
#include "tests/unit/admin/status_matchers.h"

namespace pgvalve::admin {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;
using testutil::AsSpan;
using testutil::Attribute;
using testutil::InitialResponseBody;
using testutil::IsInvalidPassword;
using testutil::IsProtocolViolation;
using testutil::ScramTestClient;

ScramCredential PlainCredential(std::string_view password) {
  absl::StatusOr<ScramCredential> credential = CredentialFromConfig(password);
  EXPECT_TRUE(credential.ok()) << credential.status();
  return credential.ok() ? *credential : ScramCredential{};
}

struct Outcome {
  absl::StatusOr<std::string> server_first;
  absl::StatusOr<std::string> server_final;
};

// Both rounds with `client`; the second only when the first succeeded.
Outcome RunExchange(ScramAuthenticator& server, ScramTestClient& client) {
  Outcome outcome{server.OnInitialResponse(client.InitialResponse()), absl::UnknownError("not run")};
  if (outcome.server_first.ok()) {
    outcome.server_final = server.OnFinalResponse(AsSpan(client.ClientFinal(*outcome.server_first)));
  }
  return outcome;
}

// RFC 7677 section 3, reproduced byte for byte.
TEST(ScramAuthenticatorTest, ReproducesRfc7677Example) {
  const std::string salt = testutil::FromBase64("W22ZaJ0SNY7soEsUEjb6gQ==");
  const ScramCredential credential = DeriveScramCredential(
      "pencil", {reinterpret_cast<const uint8_t*>(salt.data()), salt.size()}, 4096);
  ScramAuthenticator server(&credential, "user", [] { return "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"; });

  absl::StatusOr<std::string> server_first =
      server.OnInitialResponse(InitialResponseBody("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
  ASSERT_TRUE(server_first.ok()) << server_first.status();
  EXPECT_EQ(*server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");

  absl::StatusOr<std::string> server_final = server.OnFinalResponse(
      AsSpan("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
             "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
  ASSERT_TRUE(server_final.ok()) << server_final.status();
  EXPECT_EQ(*server_final, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

TEST(ScramAuthenticatorTest, OffersOnlyScramSha256) {
  EXPECT_THAT(ScramAuthenticator::Mechanisms(), ElementsAre("SCRAM-SHA-256"));
}

TEST(ScramAuthenticatorTest, IndependentClientAuthenticates) {
  const ScramCredential credential = PlainCredential("correct horse");
  ScramAuthenticator server(&credential, "alice");
  ScramTestClient client("correct horse");
  Outcome outcome = RunExchange(server, client);
  ASSERT_TRUE(outcome.server_first.ok()) << outcome.server_first.status();
  ASSERT_TRUE(outcome.server_final.ok()) << outcome.server_final.status();
  EXPECT_EQ(*outcome.server_final, client.ExpectedServerFinal());

  // r= is the client nonce followed by 18 random bytes in base64.
  const std::string nonce = Attribute(*outcome.server_first, 'r');
  const std::string client_nonce = "fyko+d2lbbFgONRv9qkxdawL";
  ASSERT_THAT(nonce, StartsWith(client_nonce));
  EXPECT_EQ(testutil::FromBase64(nonce.substr(client_nonce.size())).size(), kScramServerNonceLength);
  EXPECT_EQ(Attribute(*outcome.server_first, 'i'), "4096");
}

TEST(ScramAuthenticatorTest, ServerNonceIsFreshEachExchange) {
  const ScramCredential credential = PlainCredential("pw");
  ScramAuthenticator one(&credential, "alice");
  ScramAuthenticator two(&credential, "alice");
  ScramTestClient client("pw");
  absl::StatusOr<std::string> first = one.OnInitialResponse(client.InitialResponse());
  absl::StatusOr<std::string> second = two.OnInitialResponse(client.InitialResponse());
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(Attribute(*first, 'r'), Attribute(*second, 'r'));
}

TEST(ScramAuthenticatorTest, AcceptsClientThatSupportsChannelBindingWeDoNotOffer) {
  const ScramCredential credential = PlainCredential("pw");
  ScramAuthenticator server(&credential, "alice");
  ScramTestClient client("pw", "abc", "y,,");  // c= is then "eSws"
  Outcome outcome = RunExchange(server, client);
  ASSERT_TRUE(outcome.server_final.ok()) << outcome.server_final.status();
  EXPECT_EQ(*outcome.server_final, client.ExpectedServerFinal());
}

TEST(ScramAuthenticatorTest, IgnoresUserNameAndExtensionsInScramMessages) {
  const ScramCredential credential = PlainCredential("pencil");
  ScramAuthenticator server(&credential, "user", [] { return "SERVER"; });
  // What an independent client computes for this exchange, with user
  // "mallory" in client-first and an extension in each client message.
  const std::string bare = "n=mallory,r=CLIENT,x=ext";
  absl::StatusOr<std::string> server_first = server.OnInitialResponse(InitialResponseBody("n,," + bare));
  ASSERT_TRUE(server_first.ok()) << server_first.status();
  const std::string without_proof = "c=biws,r=CLIENTSERVER,y=another";
  const std::string auth_message = bare + "," + *server_first + "," + without_proof;
  const std::string salt = testutil::FromBase64(Attribute(*server_first, 's'));
  const std::string salted = testutil::Pbkdf2("pencil", salt, 4096);
  const std::string client_key = testutil::Hmac(salted, "Client Key");
  const std::string client_signature = testutil::Hmac(testutil::Sha(client_key), auth_message);
  const std::string proof = testutil::Xor(client_key, client_signature);
  absl::StatusOr<std::string> server_final =
      server.OnFinalResponse(AsSpan(without_proof + ",p=" + testutil::ToBase64(proof)));
  ASSERT_TRUE(server_final.ok()) << server_final.status();
  EXPECT_EQ(*server_final,
            "v=" + testutil::ToBase64(testutil::Hmac(testutil::Hmac(salted, "Server Key"), auth_message)));
}

TEST(ScramAuthenticatorTest, WrongPasswordFailsAtTheProofWith28P01) {
  const ScramCredential credential = PlainCredential("right");
  ScramAuthenticator server(&credential, "alice");
  ScramTestClient client("wrong");
  Outcome outcome = RunExchange(server, client);
  ASSERT_TRUE(outcome.server_first.ok()) << outcome.server_first.status();
  EXPECT_THAT(outcome.server_final, IsInvalidPassword());
  EXPECT_EQ(outcome.server_final.status().message(), "password authentication failed for user \"alice\"");
}

TEST(ScramAuthenticatorTest, UnknownUserFailsLikeWrongPassword) {
  const ScramCredential credential = PlainCredential("right");
  ScramAuthenticator known(&credential, "alice");
  ScramAuthenticator unknown(nullptr, "alice");
  ScramTestClient client_of_known("wrong");
  ScramTestClient client_of_unknown("wrong");
  Outcome wrong_password = RunExchange(known, client_of_known);
  Outcome no_such_user = RunExchange(unknown, client_of_unknown);

  // The same first reply, field by field shape...
  ASSERT_TRUE(no_such_user.server_first.ok()) << no_such_user.server_first.status();
  EXPECT_EQ(testutil::FromBase64(Attribute(*no_such_user.server_first, 's')).size(),
            testutil::FromBase64(Attribute(*wrong_password.server_first, 's')).size());
  EXPECT_EQ(Attribute(*no_such_user.server_first, 'i'), Attribute(*wrong_password.server_first, 'i'));
  EXPECT_EQ(Attribute(*no_such_user.server_first, 'r').size(),
            Attribute(*wrong_password.server_first, 'r').size());
  // ...and the same failure at the same step.
  EXPECT_THAT(no_such_user.server_final, IsInvalidPassword());
  EXPECT_EQ(no_such_user.server_final.status(), wrong_password.server_final.status());
}

TEST(ScramAuthenticatorTest, UnknownUserSaltIsStablePerUserName) {
  auto salt_for = [](std::string_view user) {
    ScramAuthenticator server(nullptr, user);
    ScramTestClient client("x");
    absl::StatusOr<std::string> server_first = server.OnInitialResponse(client.InitialResponse());
    EXPECT_TRUE(server_first.ok());
    return Attribute(server_first.value_or(""), 's');
  };
  EXPECT_EQ(salt_for("ghost"), salt_for("ghost"));
  EXPECT_NE(salt_for("ghost"), salt_for("phantom"));
  EXPECT_NE(salt_for("ghost"), salt_for(""));
}

TEST(ScramAuthenticatorTest, AuthenticatesAgainstMadeVerifier) {
  const ScramCredential credential = *CredentialFromConfig(MakeScramVerifier("s3cret!"));
  ScramAuthenticator server(&credential, "alice");
  ScramTestClient client("s3cret!");
  Outcome outcome = RunExchange(server, client);
  ASSERT_TRUE(outcome.server_final.ok()) << outcome.server_final.status();
  EXPECT_EQ(*outcome.server_final, client.ExpectedServerFinal());
}

// Made by PostgreSQL 15 for password "pencil".
constexpr std::string_view kPostgresPencilVerifier =
    "SCRAM-SHA-256$4096:2ynIEcnqsegvjG1tN0UnrQ==$432IuOcT/RCt/zR3eS/qMnxslhEseUaFLNO/l3PhWpY=:"
    "OLyti0/By91W6UZsnMVBdiqwAwflmLILzvtFjVl95dY=";

TEST(ScramAuthenticatorTest, AuthenticatesAgainstPostgresVerifier) {
  const ScramCredential credential = *CredentialFromConfig(kPostgresPencilVerifier);
  {
    ScramAuthenticator server(&credential, "alice");
    ScramTestClient client("pencil");
    Outcome outcome = RunExchange(server, client);
    ASSERT_TRUE(outcome.server_first.ok()) << outcome.server_first.status();
    EXPECT_EQ(Attribute(*outcome.server_first, 's'), "2ynIEcnqsegvjG1tN0UnrQ==");
    ASSERT_TRUE(outcome.server_final.ok()) << outcome.server_final.status();
    EXPECT_EQ(*outcome.server_final, client.ExpectedServerFinal());
  }
  {
    ScramAuthenticator server(&credential, "alice");
    ScramTestClient client("Pencil");
    EXPECT_THAT(RunExchange(server, client).server_final, IsInvalidPassword());
  }
}

TEST(ScramAuthenticatorTest, EachRoundIsAcceptedOnceAndInOrder) {
  const ScramCredential credential = PlainCredential("pw");
  ScramTestClient client("pw");
  {
    ScramAuthenticator server(&credential, "alice");
    EXPECT_THAT(server.OnFinalResponse(AsSpan("c=biws,r=x,p=AAAA")), IsProtocolViolation());
    EXPECT_THAT(server.OnInitialResponse(client.InitialResponse()), IsProtocolViolation());
  }
  {
    ScramAuthenticator server(&credential, "alice");
    ASSERT_TRUE(server.OnInitialResponse(client.InitialResponse()).ok());
    EXPECT_THAT(server.OnInitialResponse(client.InitialResponse()), IsProtocolViolation());
  }
  {
    // A failed proof is the end: the right one is not taken afterwards.
    ScramAuthenticator server(&credential, "alice");
    absl::StatusOr<std::string> server_first = server.OnInitialResponse(client.InitialResponse());
    ASSERT_TRUE(server_first.ok());
    const std::string right = client.ClientFinal(*server_first);
    std::string wrong = right;
    wrong[wrong.size() - 3] = wrong[wrong.size() - 3] == 'A' ? 'B' : 'A';
    EXPECT_THAT(server.OnFinalResponse(AsSpan(wrong)), IsInvalidPassword());
    EXPECT_THAT(server.OnFinalResponse(AsSpan(right)), IsProtocolViolation());
  }
  {
    ScramAuthenticator server(&credential, "alice");
    Outcome outcome = RunExchange(server, client);
    ASSERT_TRUE(outcome.server_final.ok());
    EXPECT_THAT(server.OnFinalResponse(AsSpan(client.ClientFinal(*outcome.server_first))),
                IsProtocolViolation());
  }
}

}  // namespace
}  // namespace pgvalve::admin
