#include "admin/console/scram_authenticator.h"

#include <algorithm>
#include <array>
#include <climits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "config/scram_verifier.h"
#include "fmt/format.h"
#include "protocol/message_reader.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"

namespace pgvalve::admin {
namespace {

std::span<const uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string_view AsText(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

static_assert(config::kScramKeySize == kScramKeyLength);

// ParseScramVerifier has checked the length.
ScramKey ToKey(std::string_view bytes) {
  ScramKey key;
  std::copy_n(bytes.begin(), key.size(), key.begin());
  return key;
}

absl::Status Malformed(std::string_view detail) {
  return protocol::ProtocolViolation(fmt::format("malformed SCRAM message: {}", detail));
}

absl::Status NotSupported(std::string_view message) {
  return protocol::ErrorWithSqlState(protocol::sqlstate::kFeatureNotSupported, message);
}

// Attribute values never contain a comma (RFC 5802 section 5.1: a user name
// spells it "=2C"), so a message splits into its attributes at every comma.
std::vector<std::string_view> SplitAttributes(std::string_view message) {
  std::vector<std::string_view> fields;
  while (true) {
    const size_t comma = message.find(',');
    fields.push_back(message.substr(0, comma));
    if (comma == std::string_view::npos) return fields;
    message.remove_prefix(comma + 1);
  }
}

// RFC 5802 section 7: attr-val = ALPHA "=" value.
bool IsAttribute(std::string_view field) {
  if (field.size() < 2 || field[1] != '=') return false;
  const char name = field[0];
  return (name >= 'a' && name <= 'z') || (name >= 'A' && name <= 'Z');
}

// The value of `field` when it is the attribute `name`.
std::optional<std::string_view> AttributeValue(std::string_view field, char name) {
  if (!IsAttribute(field) || field[0] != name) return std::nullopt;
  return field.substr(2);
}

// RFC 5802: nonce = "r=" c-nonce, c-nonce = printable, printable = %x21-2B / %x2D-7E.
bool IsValidNonce(std::string_view nonce) {
  return !nonce.empty() && std::all_of(nonce.begin(), nonce.end(), [](char c) {
    return c >= 0x21 && c <= 0x7E && c != ',';
  });
}

// The SCRAM data is text; PostgreSQL reads it as a C string and rejects a
// NUL inside.
absl::Status CheckScramText(std::string_view message) {
  if (message.empty()) return Malformed("the message is empty");
  if (message.size() > kMaxScramMessageLength) return Malformed("the message is too long");
  if (message.find('\0') != std::string_view::npos) return Malformed("the message contains a NUL byte");
  return absl::OkStatus();
}

std::string RandomServerNonce() {
  std::array<uint8_t, kScramServerNonceLength> raw;
  FillRandom(raw);
  return Base64Encode(raw);
}

// The per-process secret behind unknown users' fake credentials: drawn once,
// never leaves the process.
const ScramKey& MockSecret() {
  static const ScramKey secret = [] {
    ScramKey key;
    FillRandom(key);
    return key;
  }();
  return secret;
}

// Shaped like a credential made from a plain password: a 16-byte salt and
// the default iteration count. Only the salt is ever shown; the keys just
// give the proof check the same work to do.
ScramCredential MockCredential(std::string_view user) {
  const ScramKey& secret = MockSecret();
  const ScramKey salt = HmacSha256(secret, fmt::format("salt:{}", user));
  ScramCredential credential;
  credential.salt.assign(salt.begin(), salt.begin() + kScramSaltLength);
  credential.iterations = kScramDefaultIterations;
  credential.stored_key = HmacSha256(secret, fmt::format("stored-key:{}", user));
  credential.server_key = HmacSha256(secret, fmt::format("server-key:{}", user));
  return credential;
}

ScramCredential CredentialFromVerifier(const config::ScramVerifier& verifier) {
  ScramCredential credential;
  credential.salt.assign(verifier.salt.begin(), verifier.salt.end());
  credential.iterations = static_cast<int>(verifier.iterations);
  credential.stored_key = ToKey(verifier.stored_key);
  credential.server_key = ToKey(verifier.server_key);
  return credential;
}

}  // namespace

ScramCredential DeriveScramCredential(std::string_view password, std::span<const uint8_t> salt,
                                      int iterations) {
  ScramKey salted = ScramSaltedPassword(SaslPrep(password), salt, iterations);
  ScramKey client_key = HmacSha256(salted, "Client Key");
  ScramCredential credential;
  credential.salt.assign(salt.begin(), salt.end());
  credential.iterations = iterations;
  credential.stored_key = Sha256(client_key);
  credential.server_key = HmacSha256(salted, "Server Key");
  // Either of these logs in as the user; the keys kept above do not.
  Wipe(salted);
  Wipe(client_key);
  return credential;
}

absl::StatusOr<ScramCredential> CredentialFromConfig(std::string_view password_or_verifier) {
  if (config::LooksLikeScramVerifier(password_or_verifier)) {
    absl::StatusOr<config::ScramVerifier> verifier = config::ParseScramVerifier(password_or_verifier);
    if (!verifier.ok()) return verifier.status();
    if (verifier->iterations > static_cast<uint32_t>(INT_MAX)) {
      return absl::InvalidArgumentError("SCRAM-SHA-256 verifier has an iteration count above 2147483647");
    }
    return CredentialFromVerifier(*verifier);
  }
  if (password_or_verifier.empty()) return absl::InvalidArgumentError("the password is empty");
  // A client sends its password as a C string, so it could never match.
  if (password_or_verifier.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("the password contains a NUL character");
  }
  std::array<uint8_t, kScramSaltLength> salt;
  FillRandom(salt);
  return DeriveScramCredential(password_or_verifier, salt, kScramDefaultIterations);
}

std::string FormatScramVerifier(const ScramCredential& credential) {
  return fmt::format("{}{}:{}${}:{}", config::kScramVerifierPrefix, credential.iterations,
                     Base64Encode(credential.salt), Base64Encode(credential.stored_key),
                     Base64Encode(credential.server_key));
}

std::string MakeScramVerifier(std::string_view password, int iterations) {
  std::array<uint8_t, kScramSaltLength> salt;
  FillRandom(salt);
  return FormatScramVerifier(DeriveScramCredential(password, salt, iterations));
}

ScramAuthenticator::ScramAuthenticator(const ScramCredential* credential, std::string_view user,
                                       NonceSource server_nonce)
    : user_(user),
      credential_(credential != nullptr ? *credential : MockCredential(user)),
      doomed_(credential == nullptr),
      server_nonce_(server_nonce ? std::move(server_nonce) : NonceSource(RandomServerNonce)) {}

std::span<const std::string_view> ScramAuthenticator::Mechanisms() {
  static constexpr std::array<std::string_view, 1> kMechanisms = {kScramSha256};
  return kMechanisms;
}

absl::StatusOr<std::string> ScramAuthenticator::OnInitialResponse(std::span<const std::byte> message_body) {
  if (step_ != Step::kClientFirst) {
    step_ = Step::kFinished;
    return protocol::ProtocolViolation("unexpected SASLInitialResponse");
  }
  step_ = Step::kFinished;  // until this round succeeds
  if (message_body.size() > kMaxScramMessageLength) {
    return protocol::ProtocolViolation("SASLInitialResponse is too long");
  }

  protocol::MessageReader reader(message_body, "SASLInitialResponse");
  absl::StatusOr<std::string_view> mechanism = reader.ReadCString();
  if (!mechanism.ok()) return mechanism.status();
  if (*mechanism != kScramSha256) {
    return protocol::ProtocolViolation("client selected an invalid SASL authentication mechanism");
  }
  absl::StatusOr<int32_t> length = reader.ReadInt32();
  if (!length.ok()) return length.status();
  // -1 means "no initial response": PostgreSQL would then send an empty
  // challenge and take the client-first-message from the next SASLResponse.
  // Clients (libpq, JDBC, the Go, Rust, Python and .NET drivers) always
  // send it here, so that round is not supported.
  if (*length == -1) {
    return protocol::ProtocolViolation(
        "SCRAM-SHA-256 requires the client-first-message in SASLInitialResponse");
  }
  if (*length < 0) {
    return protocol::ProtocolViolation(fmt::format("invalid SASLInitialResponse data length {}", *length));
  }
  absl::StatusOr<std::span<const std::byte>> data = reader.ReadBytes(static_cast<size_t>(*length));
  if (!data.ok()) return data.status();
  if (absl::Status end = reader.ExpectEnd(); !end.ok()) return end;
  if (absl::Status parsed = ParseClientFirst(AsText(*data)); !parsed.ok()) return parsed;

  nonce_ += server_nonce_();
  server_first_ =
      fmt::format("r={},s={},i={}", nonce_, Base64Encode(credential_.salt), credential_.iterations);
  step_ = Step::kClientFinal;
  return server_first_;
}

// client-first-message = gs2-header client-first-message-bare
// gs2-header = gs2-cbind-flag "," [ authzid ] ","
// client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
absl::Status ScramAuthenticator::ParseClientFirst(std::string_view message) {
  if (absl::Status text = CheckScramText(message); !text.ok()) return text;
  const std::vector<std::string_view> fields = SplitAttributes(message);
  if (fields.size() < 3) return Malformed("client-first-message ends inside the GS2 header");

  const std::string_view cbind_flag = fields[0];
  if (cbind_flag.starts_with("p=")) {
    return protocol::ProtocolViolation(
        "the client requires SCRAM channel binding, but the server did not offer SCRAM-SHA-256-PLUS");
  }
  if (cbind_flag != "n" && cbind_flag != "y") {
    return Malformed("unexpected channel-binding flag");
  }
  const std::string_view authzid = fields[1];
  if (!authzid.empty()) {
    if (AttributeValue(authzid, 'a')) {
      return NotSupported("client uses authorization identity, but it is not supported");
    }
    return Malformed("expected an authorization identity or nothing after the channel-binding flag");
  }
  gs2_header_ = message.substr(0, cbind_flag.size() + authzid.size() + 2);
  client_first_bare_ = message.substr(gs2_header_.size());

  if (AttributeValue(fields[2], 'm')) return NotSupported("client requires an unsupported SCRAM extension");
  // The user name attribute must be there but is not used: the user is the
  // one from the startup packet.
  if (!AttributeValue(fields[2], 'n')) return Malformed("expected the user name attribute \"n\"");
  if (fields.size() < 4) return Malformed("client-first-message has no nonce");
  const std::optional<std::string_view> client_nonce = AttributeValue(fields[3], 'r');
  if (!client_nonce) return Malformed("expected the nonce attribute \"r\"");
  if (!IsValidNonce(*client_nonce)) return Malformed("the client nonce is empty or not printable");
  for (size_t i = 4; i < fields.size(); ++i) {
    if (!IsAttribute(fields[i])) return Malformed("invalid extension attribute in client-first-message");
  }
  nonce_ = *client_nonce;
  return absl::OkStatus();
}

// client-final-message = channel-binding "," nonce ["," extensions] "," proof
absl::StatusOr<std::string> ScramAuthenticator::OnFinalResponse(std::span<const std::byte> message_body) {
  if (step_ != Step::kClientFinal) {
    step_ = Step::kFinished;
    return protocol::ProtocolViolation("unexpected SASLResponse");
  }
  step_ = Step::kFinished;  // one attempt, whatever its outcome

  const std::string_view message = AsText(message_body);
  if (absl::Status text = CheckScramText(message); !text.ok()) return text;
  const std::vector<std::string_view> fields = SplitAttributes(message);
  if (fields.size() < 3) return Malformed("client-final-message needs channel binding, nonce and proof");

  const std::optional<std::string_view> channel_binding = AttributeValue(fields[0], 'c');
  if (!channel_binding) return Malformed("expected the channel-binding attribute \"c\"");
  // Without channel binding, c= is the GS2 header of the first message in
  // base64: "biws" for "n,,", "eSws" for "y,,".
  if (*channel_binding != Base64Encode(AsBytes(gs2_header_))) {
    return protocol::ProtocolViolation(
        "unexpected SCRAM channel-binding attribute in client-final-message");
  }
  const std::optional<std::string_view> nonce = AttributeValue(fields[1], 'r');
  if (!nonce) return Malformed("expected the nonce attribute \"r\"");
  // The client nonce and ours, both unchanged.
  if (*nonce != nonce_) return protocol::ProtocolViolation("SCRAM nonce mismatch");
  for (size_t i = 2; i + 1 < fields.size(); ++i) {
    if (!IsAttribute(fields[i]) || fields[i][0] == 'p') {
      return Malformed("invalid attribute before the proof in client-final-message");
    }
  }
  const std::string_view proof_field = fields.back();
  const std::optional<std::string_view> proof_text = AttributeValue(proof_field, 'p');
  if (!proof_text) return Malformed("client-final-message does not end with the proof attribute \"p\"");
  const std::optional<std::vector<uint8_t>> proof = Base64Decode(*proof_text);
  if (!proof || proof->size() != kScramKeyLength) return Malformed("the proof is not 32 bytes of base64");

  // RFC 5802 section 3:
  //   AuthMessage     := client-first-message-bare + "," + server-first-message + ","
  //                      + client-final-message-without-proof
  //   ClientSignature := HMAC(StoredKey, AuthMessage)
  //   ClientKey       := ClientProof XOR ClientSignature, and H(ClientKey) must be StoredKey
  //   ServerSignature := HMAC(ServerKey, AuthMessage)
  const std::string_view without_proof = message.substr(0, message.size() - proof_field.size() - 1);
  const std::string auth_message =
      fmt::format("{},{},{}", client_first_bare_, server_first_, without_proof);
  const ScramKey client_signature = HmacSha256(credential_.stored_key, auth_message);
  ScramKey client_key;
  for (size_t i = 0; i < client_key.size(); ++i) client_key[i] = (*proof)[i] ^ client_signature[i];
  const bool proof_matches = ConstantTimeEqual(Sha256(client_key), credential_.stored_key);
  Wipe(client_key);
  if (!proof_matches || doomed_) {
    return protocol::ErrorWithSqlState(
        protocol::sqlstate::kInvalidPassword,
        fmt::format("password authentication failed for user \"{}\"", user_));
  }
  return fmt::format("v={}", Base64Encode(HmacSha256(credential_.server_key, auth_message)));
}

}  // namespace pgvalve::admin
