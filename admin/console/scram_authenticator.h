#pragma once
// Server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) for the admin console,
// as PostgreSQL runs it (https://www.postgresql.org/docs/15/sasl-authentication.html):
//
//   S: AuthenticationSASL          Mechanisms()
//   C: SASLInitialResponse         -> OnInitialResponse -> server-first-message
//   S: AuthenticationSASLContinue  server-first-message
//   C: SASLResponse                -> OnFinalResponse   -> server-final-message
//   S: AuthenticationSASLFinal     server-final-message, then AuthenticationOk
//
// Pure logic: no sockets, no logging. Errors carry their SQLSTATE
// (protocol_error.h): 08P01 for a malformed exchange, 0A000 for SCRAM
// features PostgreSQL does not support either (authorization identity,
// mandatory extensions), 28P01 for a wrong password or an unknown user.
//
// Channel binding is not offered (no TLS yet): only SCRAM-SHA-256 is listed,
// and clients may send the GS2 flag "n" or "y". Once TLS and
// SCRAM-SHA-256-PLUS arrive, "y" over TLS must be refused, as PostgreSQL
// does, since it means a downgrade.
//
// Unlike PostgreSQL, a SASLInitialResponse without data (length -1, which
// would take one more round) is refused: clients always send the
// client-first-message there.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "admin/console/scram_crypto.h"

namespace pgvalve::admin {

inline constexpr std::string_view kScramSha256 = "SCRAM-SHA-256";
// PostgreSQL's SCRAM_DEFAULT_ITERATIONS (the scram_iterations default from
// version 16 on), SCRAM_DEFAULT_SALT_LEN and SCRAM_RAW_NONCE_LEN.
inline constexpr int kScramDefaultIterations = 4096;
inline constexpr size_t kScramSaltLength = 16;
inline constexpr size_t kScramServerNonceLength = 18;
// PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH: the largest SASL message body it
// reads. Real ones are a few hundred bytes.
inline constexpr size_t kMaxScramMessageLength = 65535;

// What the server checks a client against. The password itself is not kept.
struct ScramCredential {
  std::vector<uint8_t> salt;
  int iterations = 0;
  ScramKey stored_key{};
  ScramKey server_key{};
};

// RFC 5802 section 3 for a plain password: SaslPrep, then SaltedPassword,
// ClientKey, StoredKey and ServerKey. `salt` non-empty, `iterations` >= 1.
ScramCredential DeriveScramCredential(std::string_view password, std::span<const uint8_t> salt,
                                      int iterations);

// An admin user's configured password: a verifier (config/scram_verifier.h
// decides which form it is and parses it) or a plain password, derived with
// a fresh random salt and kScramDefaultIterations. Errors never echo the
// text.
//
// Call it once per config load and keep the result, not once per login: a
// plain password would otherwise show a new salt on every attempt while an
// unknown user's stays put, which tells an observer which users exist, and
// every unauthenticated attempt would cost a PBKDF2 run.
absl::StatusOr<ScramCredential> CredentialFromConfig(std::string_view password_or_verifier);

// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, as PostgreSQL
// stores it in pg_authid.rolpassword.
std::string FormatScramVerifier(const ScramCredential& credential);

// A verifier PostgreSQL and pgvalve both accept for `password` (random salt),
// for documentation and tools: an operator can put it in the config instead
// of the password.
std::string MakeScramVerifier(std::string_view password, int iterations = kScramDefaultIterations);

// One exchange, for one connection. Not thread-safe; no copies.
class ScramAuthenticator {
 public:
  // Returns the server's part of the nonce: printable ASCII without ','.
  // Tests inject a fixed one; by default it is 18 bytes from RAND_bytes in
  // base64.
  using NonceSource = std::function<std::string()>;

  // `user` is the user name from the startup packet; SCRAM's own user name
  // attribute is ignored, as PostgreSQL ignores it. It names the user in the
  // 28P01 error and, when `credential` is nullptr (no such user), seeds a
  // fake credential derived from it and a per-process secret: the exchange
  // then runs with the same messages (a stable salt per user name, the
  // default iteration count) and fails at the same step with the same error
  // as a wrong password. It is required rather than defaulted because one
  // seed shared by all unknown users would tell them apart from real ones.
  //
  // Limit: fake salts change when pgvalve restarts, as do the salts of
  // plain-text passwords (also at reload), but the salt of a configured
  // verifier does not; an observer who watches a user across a restart can
  // tell a verifier-backed user from an unknown one. PostgreSQL avoids this
  // by keeping its mock secret in pg_control.
  //
  // The credential is copied: a config reload during the exchange does not
  // affect it.
  ScramAuthenticator(const ScramCredential* credential, std::string_view user,
                     NonceSource server_nonce = {});

  ScramAuthenticator(const ScramAuthenticator&) = delete;
  ScramAuthenticator& operator=(const ScramAuthenticator&) = delete;

  // The mechanism list for AuthenticationSASL.
  static std::span<const std::string_view> Mechanisms();

  // Body of the client's SASLInitialResponse ('p'): mechanism name, Int32
  // length of the data, the data (client-first-message). Returns the
  // server-first-message, the data of AuthenticationSASLContinue.
  absl::StatusOr<std::string> OnInitialResponse(std::span<const std::byte> message_body);

  // Body of the client's SASLResponse ('p'): the client-final-message.
  // Returns the server-final-message, the data of AuthenticationSASLFinal,
  // when the proof is right.
  absl::StatusOr<std::string> OnFinalResponse(std::span<const std::byte> message_body);

 private:
  enum class Step { kClientFirst, kClientFinal, kFinished };

  absl::Status ParseClientFirst(std::string_view message);

  std::string user_;
  ScramCredential credential_;
  bool doomed_;  // no such user: fail at the proof whatever it is
  NonceSource server_nonce_;
  // Any error ends the exchange: the next call is refused.
  Step step_ = Step::kClientFirst;
  // Kept from the first round for the second.
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;  // the client's, then the client's and the server's
};

}  // namespace pgvalve::admin
