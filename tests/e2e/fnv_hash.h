#pragma once
// 64-bit FNV-1a, fed incrementally, for comparing what was sent with what
// came back without keeping either in memory. Not cryptographic; a relay
// that corrupts bytes does not do so adversarially.

#include <cstdint>
#include <string_view>

namespace pgvalve::test {

class Fnv1a64 {
 public:
  void Update(std::string_view bytes) {
    for (const char c : bytes) {
      hash_ ^= static_cast<uint8_t>(c);
      hash_ *= kPrime;
    }
  }
  uint64_t value() const { return hash_; }

  static uint64_t Of(std::string_view bytes) {
    Fnv1a64 hasher;
    hasher.Update(bytes);
    return hasher.value();
  }

 private:
  static constexpr uint64_t kOffsetBasis = 14695981039346656037ull;
  static constexpr uint64_t kPrime = 1099511628211ull;
  uint64_t hash_ = kOffsetBasis;
};

}  // namespace pgvalve::test
