#pragma once
// The computations behind SCRAM-SHA-256 (RFC 5802 section 3, RFC 7677) and
// the two encodings its messages need, over OpenSSL 3. Nothing here keeps
// state; ScramAuthenticator strings these together.
//
// OpenSSL failing to hash or to produce random bytes means the library is
// broken or out of memory, not that a peer misbehaved, so those failures are
// thrown (std::runtime_error) to the top-level handler rather than returned.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pgvalve::admin {

// SHA-256 output size: SaltedPassword, the keys and the signatures.
inline constexpr size_t kScramKeyLength = 32;
using ScramKey = std::array<uint8_t, kScramKeyLength>;

ScramKey Sha256(std::span<const uint8_t> data);
ScramKey HmacSha256(std::span<const uint8_t> key, std::string_view message);

// Hi(password, salt, i) of RFC 5802: PBKDF2-HMAC-SHA-256 with one output
// block. The caller applies SaslPrep first.
ScramKey ScramSaltedPassword(std::string_view password, std::span<const uint8_t> salt, int iterations);

// Lengths are public; only the contents are compared in constant time.
bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b);

// Fills `out` from OpenSSL's CSPRNG.
void FillRandom(std::span<uint8_t> out);

// Overwrites a password-equivalent temporary in a way the compiler keeps.
void Wipe(std::span<uint8_t> bytes);

// Standard alphabet, padded (RFC 4648 section 4), as SCRAM requires.
std::string Base64Encode(std::span<const uint8_t> bytes);
// Accepts only that form: a length that is a multiple of 4, padding only at
// the end, no whitespace. nullopt for anything else.
std::optional<std::vector<uint8_t>> Base64Decode(std::string_view text);

// The password as PostgreSQL hashes it (src/common/saslprep.c): SASLprep
// (RFC 4013) when that succeeds, the raw bytes when it fails (invalid UTF-8,
// prohibited characters, nothing left after mapping). Clients and servers
// must agree byte for byte, or a right password is refused.
//
// Exact for
//   - pure ASCII, which PostgreSQL passes through unchanged (even control
//     characters: it skips the other steps for ASCII);
//   - UTF-8 whose characters, after mapping non-ASCII spaces to U+0020 and
//     dropping the "mapped to nothing" ones (B.1), all lie in a table of
//     characters SASLprep leaves alone: Latin, IPA, spacing modifier
//     letters, Greek, Cyrillic, kana, CJK unified ideographs and Hangul
//     syllables as of Unicode 3.2, minus everything that NFKC changes,
//     that composes with a predecessor, or that stringprep prohibits,
//     marks unassigned or treats as right-to-left;
//   - input SASLprep rejects for reasons visible without Unicode tables
//     (invalid UTF-8, control characters, empty after mapping).
// Anything else is passed through raw. That is still right when the
// password is already in normal form (NFC text without compatibility
// characters, the usual result of typing), but wrong where NFKC would
// change it (decomposed accents, fullwidth forms, ligatures, superscripts)
// or where a character outside the table makes PostgreSQL's SASLprep
// succeed after mapping. Such passwords must be configured as a verifier
// made by PostgreSQL (for example from pg_authid.rolpassword), which
// carries the prepared password in its keys.
std::string SaslPrep(std::string_view password);

}  // namespace pgvalve::admin
