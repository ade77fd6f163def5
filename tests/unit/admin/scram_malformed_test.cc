// Byte-level tests of what the authenticator refuses: every malformed or
// tampered message ends the exchange with an error carrying its SQLSTATE
// (08P01 for the protocol, 0A000 for SCRAM features PostgreSQL does not
// support either, 28P01 only for a well-formed wrong proof), and none
// crashes; the sanitizer build checks the reads.

#include <climits>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "admin/console/scram_authenticator.h"
#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/protocol_error.h"
#include "tests/unit/admin/scram_test_client.h"
#include "tests/unit/admin/status_matchers.h"

namespace pgvalve::admin {
namespace {

using testutil::AsSpan;
using testutil::Bytes;
using testutil::InitialResponseBody;
using testutil::IsInvalidPassword;
using testutil::IsNotSupported;
using testutil::IsProtocolViolation;
using testutil::ScramTestClient;
using testutil::ToBytes;

constexpr std::string_view kClientNonce = "CLIENTNONCE";
constexpr std::string_view kServerNonce = "SERVERNONCE";
constexpr std::string_view kClientFirst = "n,,n=,r=CLIENTNONCE";

class ScramMalformedTest : public ::testing::Test {
 protected:
  ScramMalformedTest() : credential_(*CredentialFromConfig("pw")) {
    // A valid client-final-message for this credential and these nonces.
    ScramAuthenticator server = NewServer();
    client_final_ = client_.ClientFinal(*server.OnInitialResponse(client_.InitialResponse()));
  }

  ScramAuthenticator NewServer() const {
    return ScramAuthenticator(&credential_, "alice", [] { return std::string(kServerNonce); });
  }

  absl::StatusOr<std::string> First(std::span<const std::byte> body) const {
    ScramAuthenticator server = NewServer();
    return server.OnInitialResponse(body);
  }

  // The second round after a valid first one.
  absl::StatusOr<std::string> Final(std::string_view client_final) const {
    ScramAuthenticator server = NewServer();
    EXPECT_TRUE(server.OnInitialResponse(client_.InitialResponse()).ok());
    return server.OnFinalResponse(AsSpan(client_final));
  }

  ScramCredential credential_;
  ScramTestClient client_{"pw", std::string(kClientNonce)};
  std::string client_final_;  // c=biws,r=CLIENTNONCESERVERNONCE,p=...
};

TEST_F(ScramMalformedTest, TheValidMessagesPass) {
  ASSERT_EQ(client_.ClientFirst(), kClientFirst);
  EXPECT_TRUE(Final(client_final_).ok()) << Final(client_final_).status();
}

TEST_F(ScramMalformedTest, RefusesChannelBindingItDidNotOffer) {
  for (std::string_view data :
       {"p=tls-server-end-point,,n=,r=abc", "p=tls-unique,,n=,r=abc", "p=,,n=,r=abc"}) {
    absl::StatusOr<std::string> reply = First(InitialResponseBody(data));
    EXPECT_THAT(reply, IsProtocolViolation()) << data;
    EXPECT_THAT(std::string(reply.status().message()), ::testing::HasSubstr("channel binding")) << data;
  }
}

TEST_F(ScramMalformedTest, RefusesAuthorizationIdentityAndMandatoryExtensionsAsUnsupported) {
  EXPECT_THAT(First(InitialResponseBody("n,a=admin,n=,r=abc")), IsNotSupported());
  EXPECT_THAT(First(InitialResponseBody("y,a=admin,n=,r=abc")), IsNotSupported());
  EXPECT_THAT(First(InitialResponseBody("n,,m=ext,n=,r=abc")), IsNotSupported());
}

TEST_F(ScramMalformedTest, RefusesMechanismsNotOffered) {
  for (std::string_view mechanism : {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1", "scram-sha-256", "", "PLAIN"}) {
    EXPECT_THAT(First(InitialResponseBody(kClientFirst, mechanism)), IsProtocolViolation()) << mechanism;
  }
}

TEST_F(ScramMalformedTest, RefusesBadInitialResponseFraming) {
  auto with_length = [](int32_t length, std::string_view data) {
    std::string body("SCRAM-SHA-256", 14);  // with its NUL
    const auto bits = static_cast<uint32_t>(length);
    for (int shift = 24; shift >= 0; shift -= 8) body += static_cast<char>((bits >> shift) & 0xFF);
    body += data;
    return ToBytes(body);
  };
  const int32_t size = static_cast<int32_t>(kClientFirst.size());
  EXPECT_TRUE(First(with_length(size, kClientFirst)).ok());
  EXPECT_THAT(First(with_length(-1, "")), IsProtocolViolation());  // no initial response
  EXPECT_THAT(First(with_length(-1, kClientFirst)), IsProtocolViolation());
  EXPECT_THAT(First(with_length(-2, kClientFirst)), IsProtocolViolation());
  EXPECT_THAT(First(with_length(INT32_MIN, kClientFirst)), IsProtocolViolation());
  EXPECT_THAT(First(with_length(INT32_MAX, kClientFirst)), IsProtocolViolation());
  EXPECT_THAT(First(with_length(size + 1, kClientFirst)), IsProtocolViolation());
  EXPECT_THAT(First(with_length(size - 1, kClientFirst)), IsProtocolViolation());  // a trailing byte
  EXPECT_THAT(First(with_length(0, "")), IsProtocolViolation());                   // empty message
  EXPECT_THAT(First(ToBytes("SCRAM-SHA-256")), IsProtocolViolation());              // no NUL
  EXPECT_THAT(First({}), IsProtocolViolation());
}

TEST_F(ScramMalformedTest, RefusesMalformedClientFirstMessages) {
  const std::vector<std::string_view> bad = {
      "n",
      "n,",
      "n,,",
      "x,,n=,r=abc",               // unknown channel-binding flag
      "nn,,n=,r=abc",
      ",,n=,r=abc",
      "n,admin,n=,r=abc",          // authzid without a=
      "n,,r=abc",                  // no user name attribute
      "n,,n=",                     // no nonce
      "n,,n=,",
      "n,,n=,r=",                  // empty nonce
      "n,,n=,x=abc",               // nonce attribute missing
      "n,,n=,r=ab\x01z",           // non-printable nonce
      "n,,n=,r=ab\x7fz",
      "n,,n=,r=ab\xc3\xa9z",       // non-ASCII nonce
      "n,,n=,r=ab z",
      "n,,n=,r=abc,",              // empty extension
      "n,,n=,r=abc,1=x",           // extension name not a letter
      "n,,n=,r=abc,x",
      "n,,n,r=abc",                // attribute without '='
      "n,,N=,r=abc",
      "n,,n=,R=abc",
      std::string_view("n,,n=,r=ab\0c", 12),  // NUL inside
      std::string_view("n,,n=\0,r=abc", 12),
  };
  for (std::string_view data : bad) {
    EXPECT_THAT(First(InitialResponseBody(data)), IsProtocolViolation()) << '"' << data << '"';
  }
}

TEST_F(ScramMalformedTest, RefusesMalformedOrTamperedClientFinalMessages) {
  const std::string& valid = client_final_;
  const std::string proof = valid.substr(valid.find(",p="));  // ",p=..."
  const std::string nonce = fmt::format("{}{}", kClientNonce, kServerNonce);
  const std::string proof_text = proof.substr(3);
  auto proof_of_size = [](size_t size) { return testutil::ToBase64(std::string(size, 'x')); };

  const std::vector<std::string> bad = {
      "",
      "c=biws",
      "c=biws,r=" + nonce,                                     // no proof
      "r=" + nonce + proof,                                    // no channel binding
      "c=biws" + proof,                                        // no nonce
      "r=" + nonce + ",c=biws" + proof,                        // out of order
      "c=eSws,r=" + nonce + proof,                             // "y,," but the first said "n,,"
      "c=cCws,r=" + nonce + proof,                             // "p,,"
      "c=,r=" + nonce + proof,
      "c=biws=,r=" + nonce + proof,
      "c=Ymlkcw==,r=" + nonce + proof,
      "c=biws,r=" + std::string(kClientNonce) + proof,         // server nonce dropped
      "c=biws,r=" + nonce + "X" + proof,                       // nonce extended
      "c=biws,r=" + nonce.substr(0, nonce.size() - 1) + "X" + proof,  // server part changed
      "c=biws,r=X" + nonce.substr(1) + proof,                  // client part changed
      "c=biws,r=" + std::string(kServerNonce) + std::string(kClientNonce) + proof,
      "c=biws,r=" + proof,
      "c=biws,r=" + nonce + ",p=",                             // empty proof
      "c=biws,r=" + nonce + ",p=!!!!",                         // not base64
      "c=biws,r=" + nonce + ",p=" + proof_text.substr(0, proof_text.size() - 1),  // padding dropped
      "c=biws,r=" + nonce + ",p=" + proof_text + "=",
      "c=biws,r=" + nonce + ",p= " + proof_text,
      "c=biws,r=" + nonce + ",p=" + proof_of_size(31),
      "c=biws,r=" + nonce + ",p=" + proof_of_size(33),
      "c=biws,r=" + nonce + ",p=" + proof_of_size(0),
      valid + ",x=after",                                      // proof not last
      valid + ",",
      valid + proof,                                           // two proofs
      "c=biws,r=" + nonce + "," + proof,                       // empty extension
      "c=biws,r=" + nonce + ",1=x" + proof,                    // extension name not a letter
      "c=biws,r=" + nonce + ",P=" + proof_text,
      "c=biws,r=" + nonce + ",p" + proof_text,
      valid + std::string(1, '\0'),
      "c=biws," + std::string(1, '\0') + "r=" + nonce + proof,
  };
  for (const std::string& message : bad) {
    EXPECT_THAT(Final(message), IsProtocolViolation()) << '"' << message << '"';
  }
}

TEST_F(ScramMalformedTest, RefusesMessagesLongerThanPostgresReads) {
  // Valid apart from their size: a long nonce, a long extension.
  const std::string long_nonce(kMaxScramMessageLength, 'x');
  EXPECT_THAT(First(InitialResponseBody("n,,n=,r=" + long_nonce)), IsProtocolViolation());
  const std::string padded = client_final_.substr(0, client_final_.find(",p=")) + ",x=" + long_nonce +
                             client_final_.substr(client_final_.find(",p="));
  EXPECT_THAT(Final(padded), IsProtocolViolation());
}

TEST_F(ScramMalformedTest, WellFormedWrongProofIs28P01) {
  const size_t at = client_final_.find(",p=") + 3;
  std::string proof = testutil::FromBase64(std::string_view(client_final_).substr(at));
  ASSERT_EQ(proof.size(), 32u);
  for (size_t byte : {size_t{0}, size_t{17}, size_t{31}}) {
    std::string flipped = proof;
    flipped[byte] = static_cast<char>(flipped[byte] ^ 0x01);
    EXPECT_THAT(Final(client_final_.substr(0, at) + testutil::ToBase64(flipped)), IsInvalidPassword())
        << byte;
  }
}

TEST_F(ScramMalformedTest, InitialResponseTruncatedAtEveryOffset) {
  const Bytes body = client_.InitialResponse();
  ASSERT_TRUE(First(body).ok());
  for (size_t cut = 0; cut < body.size(); ++cut) {
    EXPECT_THAT(First(std::span(body).first(cut)), IsProtocolViolation()) << "cut at " << cut;
  }
}

TEST_F(ScramMalformedTest, ClientFirstMessageTruncatedAtEveryOffset) {
  // With a length field that agrees, a cut inside the nonce is a shorter
  // valid nonce; every shorter cut is malformed.
  const size_t shortest_valid = kClientFirst.find("r=") + 3;
  for (size_t cut = 0; cut <= kClientFirst.size(); ++cut) {
    absl::StatusOr<std::string> reply = First(InitialResponseBody(kClientFirst.substr(0, cut)));
    if (cut >= shortest_valid) {
      EXPECT_TRUE(reply.ok()) << "cut at " << cut << ": " << reply.status();
    } else {
      EXPECT_THAT(reply, IsProtocolViolation()) << "cut at " << cut;
    }
  }
}

TEST_F(ScramMalformedTest, ClientFinalMessageTruncatedAtEveryOffset) {
  for (size_t cut = 0; cut < client_final_.size(); ++cut) {
    EXPECT_THAT(Final(client_final_.substr(0, cut)), IsProtocolViolation()) << "cut at " << cut;
  }
}

TEST_F(ScramMalformedTest, ClientFinalMessageCorruptedAtEveryOffset) {
  // '!' is no base64 character, no attribute name and no separator, so
  // whichever byte it replaces, the message stops parsing or matching.
  for (size_t at = 0; at < client_final_.size(); ++at) {
    std::string corrupted = client_final_;
    corrupted[at] = '!';
    EXPECT_THAT(Final(corrupted), IsProtocolViolation()) << "corrupted at " << at;
  }
}

TEST_F(ScramMalformedTest, RandomMutationsFailCleanly) {
  constexpr uint64_t kSeed = 0x7363'7261'6d2d'3235;
  ::testing::Test::RecordProperty("seed", std::to_string(kSeed));
  std::cout << "ScramMalformedTest.RandomMutationsFailCleanly seed: " << kSeed << "\n";
  std::mt19937_64 random(kSeed);
  const std::vector<std::string> allowed = {"08P01", "0A000", "28P01"};

  auto mutate = [&random](std::string text) {
    const int edits = 1 + static_cast<int>(random() % 3);
    for (int i = 0; i < edits; ++i) {
      const size_t at = text.empty() ? 0 : random() % (text.size() + 1);
      const char byte = static_cast<char>(random() % 256);
      switch (random() % 3) {
        case 0:
          if (at < text.size()) text[at] = byte;
          break;
        case 1:
          text.insert(at, 1, byte);
          break;
        default:
          if (at < text.size()) text.erase(at, 1);
          break;
      }
    }
    return text;
  };

  const Bytes initial = client_.InitialResponse();
  const std::string initial_text(reinterpret_cast<const char*>(initial.data()), initial.size());
  for (int run = 0; run < 2000; ++run) {
    SCOPED_TRACE(fmt::format("run {} of seed {}", run, kSeed));
    const std::string first_body = mutate(initial_text);
    ScramAuthenticator server = NewServer();
    absl::StatusOr<std::string> first = server.OnInitialResponse(AsSpan(first_body));
    if (!first.ok()) {
      EXPECT_THAT(allowed, ::testing::Contains(protocol::SqlStateOf(first.status())));
      continue;
    }
    // The first message may survive (a different nonce, an ignored user
    // name); the second must then fail unless it is unchanged and so was
    // the first.
    const std::string final_body = mutate(client_final_);
    absl::StatusOr<std::string> final = server.OnFinalResponse(AsSpan(final_body));
    if (final.ok()) {
      EXPECT_EQ(first_body, initial_text);
      EXPECT_EQ(testutil::FromBase64(testutil::Attribute(final_body, 'p')),
                testutil::FromBase64(testutil::Attribute(client_final_, 'p')));
    } else {
      EXPECT_THAT(allowed, ::testing::Contains(protocol::SqlStateOf(final.status())));
    }
  }
}

}  // namespace
}  // namespace pgvalve::admin
