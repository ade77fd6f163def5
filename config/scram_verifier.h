#pragma once
// SCRAM-SHA-256 verifiers as PostgreSQL stores them in pg_authid:
//   SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
// with salt and keys in base64 (RFC 5802 / RFC 7677). An admin password
// that starts with the prefix is taken to be a verifier and must parse; any
// other string is a plain-text password.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace pgvalve::config {

inline constexpr std::string_view kScramVerifierPrefix = "SCRAM-SHA-256$";

// SHA-256 output size: StoredKey and ServerKey are both hashes.
inline constexpr size_t kScramKeySize = 32;

struct ScramVerifier {
  uint32_t iterations = 0;
  std::string salt;        // decoded bytes
  std::string stored_key;  // decoded, kScramKeySize bytes
  std::string server_key;  // decoded, kScramKeySize bytes
};

bool LooksLikeScramVerifier(std::string_view password);

// Errors say what is malformed but never echo the verifier itself.
absl::StatusOr<ScramVerifier> ParseScramVerifier(std::string_view text);

}  // namespace pgvalve::config
