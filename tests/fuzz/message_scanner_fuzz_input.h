#pragma once
// The input layout of fuzz_message_scanner, in one place for the fuzzer that
// decodes it and the seed generator that encodes it:
//
//   byte 0        buffer capacity: 5 + 4 * (byte % 128), so 5 to 513
//   byte 1        max message length: 4 + 8 * byte, or 2^30 for 0xff
//   byte 2        chunking: the largest read is 1 + byte % 64 bytes, or the
//                 whole buffer for bytes of 0xc0 and above
//   byte 3        seed of the read sizes
//   byte 4        count of action bytes: 1 + byte % 16
//   then          the action bytes, used in turn for message 0, 1, 2, ...:
//                   bit 0  inspect (otherwise stream)
//                   bit 1  rewrite the inspected body in place (XOR 0x5a)
//                   bit 2  hold on the first offer
//                   bits 3 and 4 both set: OnMessage refuses the message
//   then          the message stream

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace pgvalve::fuzz {

struct ScannerFuzzInput {
  size_t capacity = 0;
  uint32_t max_length = 0;
  size_t largest_read = 0;
  uint8_t read_seed = 0;
  std::span<const uint8_t> actions;
  std::span<const uint8_t> stream;
};

inline constexpr uint8_t kActionInspect = 1;
inline constexpr uint8_t kActionRewrite = 2;
inline constexpr uint8_t kActionHold = 4;
inline constexpr uint8_t kActionRefuse = 8 | 16;
inline constexpr uint8_t kRewriteMask = 0x5a;
inline constexpr size_t kScannerFuzzHeaderSize = 5;

inline std::optional<ScannerFuzzInput> DecodeScannerFuzzInput(std::span<const uint8_t> data) {
  if (data.size() < kScannerFuzzHeaderSize) return std::nullopt;
  ScannerFuzzInput input;
  input.capacity = 5 + 4 * size_t{static_cast<uint8_t>(data[0] % 128)};
  input.max_length = data[1] == 0xff ? uint32_t{1} << 30 : 4 + 8 * uint32_t{data[1]};
  input.largest_read = data[2] >= 0xc0 ? input.capacity : 1 + size_t{static_cast<uint8_t>(data[2] % 64)};
  input.read_seed = data[3];
  const size_t action_count = 1 + data[4] % 16;
  if (data.size() < kScannerFuzzHeaderSize + action_count) return std::nullopt;
  input.actions = data.subspan(kScannerFuzzHeaderSize, action_count);
  input.stream = data.subspan(kScannerFuzzHeaderSize + action_count);
  return input;
}

// The control bytes for a seed; `stream` is appended after them.
inline std::vector<uint8_t> EncodeScannerFuzzInput(uint8_t capacity, uint8_t max_length, uint8_t chunking,
                                                   uint8_t read_seed, const std::vector<uint8_t>& actions,
                                                   std::span<const std::byte> stream) {
  std::vector<uint8_t> out;
  out.reserve(kScannerFuzzHeaderSize + actions.size() + stream.size());
  for (uint8_t control : {capacity, max_length, chunking, read_seed, static_cast<uint8_t>(actions.size() - 1)}) {
    out.push_back(control);
  }
  for (uint8_t action : actions) out.push_back(action);
  for (std::byte b : stream) out.push_back(static_cast<uint8_t>(b));
  return out;
}

}  // namespace pgvalve::fuzz
