#pragma once
// The input of fuzz_scram.cc, shared with the seeds that fuzz_seeds.cc
// writes for it:
//
//   Byte    flags: kScramUnknownUser, kScramAppendProof
//   Int32   n, the length of the first message (clamped to what follows)
//   Byte*n  the body of SASLInitialResponse: mechanism, NUL, Int32 length,
//           client-first-message
//   Byte*   the body of SASLResponse: the client-final-message
//
// With kScramAppendProof the fuzzer appends ",p=" and the right proof for
// the password below to the client-final-message, so that the exchange can
// succeed; without it the message is sent as it is.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace pgvalve::fuzz {

inline constexpr uint8_t kScramUnknownUser = 0x01;  // no credential: the mock one
inline constexpr uint8_t kScramAppendProof = 0x02;

// The credential the fuzzer's server checks against, and its fixed nonce.
inline constexpr std::string_view kScramFuzzUser = "alice";
inline constexpr std::string_view kScramFuzzPassword = "pencil";
inline constexpr std::string_view kScramFuzzSalt = "fuzz-salt-16byte";
inline constexpr int kScramFuzzIterations = 4096;
inline constexpr std::string_view kScramFuzzServerNonce = "3rfcNHYJY1ZVvWVs7j";

inline std::vector<uint8_t> EncodeScramFuzzInput(uint8_t flags, std::string_view initial_body,
                                                 std::string_view final_message) {
  std::vector<uint8_t> out = {flags};
  const auto length = static_cast<uint32_t>(initial_body.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(length >> shift));
  out.insert(out.end(), initial_body.begin(), initial_body.end());
  out.insert(out.end(), final_message.begin(), final_message.end());
  return out;
}

}  // namespace pgvalve::fuzz
