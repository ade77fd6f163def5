#include "protocol/utf8.h"

#include "fmt/format.h"

namespace pgvalve::protocol {
namespace {

// The length a lead byte announces; 0 for a byte that cannot lead.
size_t SequenceLength(unsigned char lead) {
  return lead < 0x80           ? 1
         : (lead >> 5) == 0x6  ? 2
         : (lead >> 4) == 0xe  ? 3
         : (lead >> 3) == 0x1e ? 4
                               : 0;
}

}  // namespace

std::optional<size_t> FirstInvalidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t length = SequenceLength(static_cast<unsigned char>(text[i]));
    if (length == 0 || length > text.size() - i) return i;
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return i;
    }
    i += length;
  }
  return std::nullopt;
}

std::string InvalidUtf8Message(std::string_view text, size_t offset) {
  const size_t announced = SequenceLength(static_cast<unsigned char>(text[offset]));
  const size_t shown = std::min(std::max<size_t>(announced, 1), text.size() - offset);
  std::string bytes;
  for (size_t k = 0; k < shown; ++k) {
    bytes += fmt::format("{}0x{:02x}", k == 0 ? "" : " ", static_cast<unsigned char>(text[offset + k]));
  }
  return fmt::format("invalid byte sequence for encoding \"UTF8\": {}", bytes);
}

}  // namespace pgvalve::protocol
