#include "admin/console/scram_crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <climits>
#include <stdexcept>

namespace pgvalve::admin {
namespace {

const unsigned char* Bytes(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

int IntSize(size_t size, const char* what) {
  if (size > INT_MAX) throw std::length_error(std::string(what) + " is too long for OpenSSL");
  return static_cast<int>(size);
}

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

struct CodePointRange {
  char32_t first;
  char32_t last;
};

bool InRanges(std::span<const CodePointRange> ranges, char32_t code_point) {
  // Sorted and disjoint, so the first range ending at or after the code
  // point is the only one that can hold it.
  auto it = std::lower_bound(ranges.begin(), ranges.end(), code_point,
                             [](const CodePointRange& range, char32_t cp) { return range.last < cp; });
  return it != ranges.end() && it->first <= code_point;
}

// RFC 3454 table C.1.2, non-ASCII space characters: mapped to U+0020.
// PostgreSQL checks this table before B.1, so U+200B, in both, becomes a space.
constexpr CodePointRange kNonAsciiSpaces[] = {
    {0x00A0, 0x00A0}, {0x1680, 0x1680}, {0x2000, 0x200B},
    {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
};

// RFC 3454 table B.1, "commonly mapped to nothing": removed.
constexpr CodePointRange kMappedToNothing[] = {
    {0x00AD, 0x00AD}, {0x034F, 0x034F}, {0x1806, 0x1806}, {0x180B, 0x180D},
    {0x200B, 0x200D}, {0x2060, 0x2060}, {0xFE00, 0xFE0F}, {0xFEFF, 0xFEFF},
};

// Characters any string of which SASLprep's later steps leave unchanged:
// assigned in Unicode 3.2 (table A.1), in none of the prohibited tables
// (C.1-C.9), not right-to-left (D.1, so the bidi rule never applies),
// NFKC-stable on their own, with combining class 0, and never the second
// half of a canonical composition (so no neighbour can compose with them).
// Drawn from the blocks named in scram_crypto.h; the rest of Unicode takes
// the raw-bytes path.
constexpr CodePointRange kUnchangedBySaslPrep[] = {
    {0x0020, 0x007E}, {0x00A1, 0x00A7}, {0x00A9, 0x00A9}, {0x00AB, 0x00AC}, {0x00AE, 0x00AE},
    {0x00B0, 0x00B1}, {0x00B6, 0x00B7}, {0x00BB, 0x00BB}, {0x00BF, 0x0131}, {0x0134, 0x013E},
    {0x0141, 0x0148}, {0x014A, 0x017E}, {0x0180, 0x01C3}, {0x01CD, 0x01F0}, {0x01F4, 0x0220},
    {0x0222, 0x0233}, {0x0250, 0x02AD}, {0x02B9, 0x02D7}, {0x02DE, 0x02DF}, {0x02E5, 0x02EE},
    {0x0375, 0x0375}, {0x0386, 0x0386}, {0x0388, 0x038A}, {0x038C, 0x038C}, {0x038E, 0x03A1},
    {0x03A3, 0x03CE}, {0x03D7, 0x03EF}, {0x03F3, 0x03F3}, {0x03F6, 0x03F6}, {0x0400, 0x0482},
    {0x0488, 0x04CE}, {0x04D0, 0x04F5}, {0x04F8, 0x04F9}, {0x0500, 0x050F}, {0x3041, 0x3096},
    {0x309D, 0x309E}, {0x30A0, 0x30FE}, {0x4E00, 0x9FA5}, {0xAC00, 0xD7A3},
};

constexpr bool SortedAndDisjoint(std::span<const CodePointRange> ranges) {
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (ranges[i].first > ranges[i].last) return false;
    if (i > 0 && ranges[i - 1].last >= ranges[i].first) return false;
  }
  return true;
}
static_assert(SortedAndDisjoint(kNonAsciiSpaces));
static_assert(SortedAndDisjoint(kMappedToNothing));
static_assert(SortedAndDisjoint(kUnchangedBySaslPrep));

// One UTF-8 sequence, validated as strictly as PostgreSQL's
// pg_utf8_islegal: no overlong forms, no surrogates, nothing above U+10FFFF.
// Returns the code point and advances `text`, or nullopt.
std::optional<char32_t> NextCodePoint(std::string_view& text) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(0);
  size_t length = 0;
  char32_t code_point = 0;
  uint8_t second_min = 0x80;
  uint8_t second_max = 0xBF;
  if (lead < 0x80) {
    text.remove_prefix(1);
    return lead;
  } else if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code_point = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code_point = lead & 0x0F;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code_point = lead & 0x07;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return std::nullopt;
  }
  if (text.size() < length) return std::nullopt;
  for (size_t i = 1; i < length; ++i) {
    const uint8_t continuation = byte(i);
    const uint8_t min = i == 1 ? second_min : 0x80;
    const uint8_t max = i == 1 ? second_max : 0xBF;
    if (continuation < min || continuation > max) return std::nullopt;
    code_point = (code_point << 6) | (continuation & 0x3F);
  }
  text.remove_prefix(length);
  return code_point;
}

}  // namespace

ScramKey Sha256(std::span<const uint8_t> data) {
  ScramKey digest;
  if (SHA256(data.data(), data.size(), digest.data()) == nullptr) {
    throw std::runtime_error("SHA-256 failed");
  }
  return digest;
}

ScramKey HmacSha256(std::span<const uint8_t> key, std::string_view message) {
  ScramKey mac;
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), IntSize(key.size(), "HMAC key"), Bytes(message), message.size(),
           mac.data(), &length) == nullptr ||
      length != mac.size()) {
    throw std::runtime_error("HMAC-SHA-256 failed");
  }
  return mac;
}

ScramKey ScramSaltedPassword(std::string_view password, std::span<const uint8_t> salt, int iterations) {
  if (iterations < 1) throw std::invalid_argument("SCRAM iteration count must be positive");
  ScramKey salted;
  if (PKCS5_PBKDF2_HMAC(password.data(), IntSize(password.size(), "password"), salt.data(),
                        IntSize(salt.size(), "salt"), iterations, EVP_sha256(),
                        static_cast<int>(salted.size()), salted.data()) != 1) {
    throw std::runtime_error("PBKDF2-HMAC-SHA-256 failed");
  }
  return salted;
}

bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void FillRandom(std::span<uint8_t> out) {
  if (RAND_bytes(out.data(), IntSize(out.size(), "random buffer")) != 1) {
    throw std::runtime_error("the CSPRNG failed to produce random bytes");
  }
}

void Wipe(std::span<uint8_t> bytes) { OPENSSL_cleanse(bytes.data(), bytes.size()); }

std::string Base64Encode(std::span<const uint8_t> bytes) {
  // EVP_EncodeBlock writes 4 characters per started 3 bytes and a NUL.
  std::string text(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()), bytes.data(),
                                     IntSize(bytes.size(), "base64 input"));
  text.resize(static_cast<size_t>(length));
  return text;
}

std::optional<std::vector<uint8_t>> Base64Decode(std::string_view text) {
  if (text.empty()) return std::vector<uint8_t>();
  if (text.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  while (padding < 2 && text[text.size() - 1 - padding] == '=') ++padding;
  if (!std::all_of(text.begin(), text.end() - static_cast<ptrdiff_t>(padding), IsBase64Char)) {
    return std::nullopt;
  }
  // EVP_DecodeBlock would skip surrounding whitespace (rejected above) and
  // counts padding as zero bytes of output, which are dropped here.
  std::vector<uint8_t> bytes(3 * (text.size() / 4));
  const int length = EVP_DecodeBlock(bytes.data(), Bytes(text), IntSize(text.size(), "base64 text"));
  if (length < 0 || static_cast<size_t>(length) != bytes.size()) return std::nullopt;
  bytes.resize(bytes.size() - padding);
  return bytes;
}

std::string SaslPrep(std::string_view password) {
  const std::string raw(password);
  const auto is_ascii = [](char c) { return static_cast<uint8_t>(c) < 0x80; };
  if (std::all_of(password.begin(), password.end(), is_ascii)) return raw;
  // Step 1, mapping, copies each kept character's own bytes; steps 2 to 4
  // (NFKC, prohibition, bidi) change nothing when every kept character is
  // in kUnchangedBySaslPrep, and otherwise this falls back to the raw bytes
  // (see the header for when that matches PostgreSQL).
  std::string prepared;
  std::string_view rest = password;
  while (!rest.empty()) {
    const std::string_view before = rest;
    const std::optional<char32_t> code_point = NextCodePoint(rest);
    if (!code_point) return raw;  // PostgreSQL: SASLPREP_INVALID_UTF8
    if (InRanges(kNonAsciiSpaces, *code_point)) {
      prepared += ' ';
    } else if (InRanges(kMappedToNothing, *code_point)) {
      continue;
    } else if (InRanges(kUnchangedBySaslPrep, *code_point)) {
      prepared += before.substr(0, before.size() - rest.size());
    } else {
      return raw;
    }
  }
  // PostgreSQL: "don't allow empty password", SASLPREP_PROHIBITED.
  if (prepared.empty()) return raw;
  return prepared;
}

}  // namespace pgvalve::admin
