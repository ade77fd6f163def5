#include "config/scram_verifier.h"

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "config/string_views.h"
#include "config/value_text.h"

namespace pgvalve::config {
namespace {

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// absl::Base64Unescape forgives missing padding and stray characters;
// PostgreSQL always writes padded standard base64, so anything else is a
// copy-and-paste accident worth reporting.
std::optional<std::string> DecodeStrictBase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  while (padding < 2 && text[text.size() - 1 - padding] == '=') ++padding;
  for (size_t i = 0; i < text.size() - padding; ++i) {
    if (!IsBase64Char(text[i])) return std::nullopt;
  }
  std::string decoded;
  if (!absl::Base64Unescape(AbslView(text), &decoded)) return std::nullopt;
  return decoded;
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (absl::string_view part : absl::StrSplit(AbslView(text), separator)) {
    parts.push_back(StdView(part));
  }
  return parts;
}

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed SCRAM-SHA-256 verifier: ", AbslView(what),
                   " (expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:"
                   "<ServerKey>)"));
}

}  // namespace

bool LooksLikeScramVerifier(std::string_view password) {
  return password.starts_with(kScramVerifierPrefix);
}

absl::StatusOr<ScramVerifier> ParseScramVerifier(std::string_view text) {
  if (!LooksLikeScramVerifier(text)) return Malformed("wrong prefix");
  text.remove_prefix(kScramVerifierPrefix.size());
  const std::vector<std::string_view> halves = Split(text, '$');
  if (halves.size() != 2) {
    return Malformed("expected exactly one '$' after the prefix");
  }
  const std::vector<std::string_view> salt_part = Split(halves[0], ':');
  const std::vector<std::string_view> key_part = Split(halves[1], ':');
  if (salt_part.size() != 2) return Malformed("expected <iterations>:<salt>");
  if (key_part.size() != 2) {
    return Malformed("expected <StoredKey>:<ServerKey>");
  }

  ScramVerifier verifier;
  const std::optional<int64_t> iterations = ParseDecimal(salt_part[0]);
  if (!iterations || *iterations < 1 || *iterations > UINT32_MAX) {
    return Malformed("iteration count must be a positive integer");
  }
  verifier.iterations = static_cast<uint32_t>(*iterations);

  std::optional<std::string> salt = DecodeStrictBase64(salt_part[1]);
  if (!salt) return Malformed("salt is not valid base64");
  std::optional<std::string> stored_key = DecodeStrictBase64(key_part[0]);
  if (!stored_key || stored_key->size() != kScramKeySize) {
    return Malformed("StoredKey is not 32 bytes of base64");
  }
  std::optional<std::string> server_key = DecodeStrictBase64(key_part[1]);
  if (!server_key || server_key->size() != kScramKeySize) {
    return Malformed("ServerKey is not 32 bytes of base64");
  }
  verifier.salt = std::move(*salt);
  verifier.stored_key = std::move(*stored_key);
  verifier.server_key = std::move(*server_key);
  return verifier;
}

}  // namespace pgvalve::config
