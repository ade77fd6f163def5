#pragma once
// The one bounded cursor every parser uses. It is limited to the body the
// framer handed over; each getter checks what is left, and ExpectEnd()
// rejects trailing bytes. No other code does offset arithmetic on messages.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pgvalve::protocol {

class MessageReader {
 public:
  // `what` names the message in error texts ("BackendKeyData").
  MessageReader(std::span<const std::byte> body, std::string_view what)
      : body_(body), what_(what) {}

  absl::StatusOr<uint8_t> ReadByte();
  absl::StatusOr<int16_t> ReadInt16();
  absl::StatusOr<int32_t> ReadInt32();
  // A NUL-terminated string; the view excludes the terminator.
  absl::StatusOr<std::string_view> ReadCString();
  absl::StatusOr<std::span<const std::byte>> ReadBytes(size_t count);
  // Everything not read yet.
  std::span<const std::byte> ReadRest();

  size_t remaining() const { return body_.size() - offset_; }
  bool AtEnd() const { return remaining() == 0; }
  // Byte at the cursor without consuming it; only valid when !AtEnd().
  uint8_t PeekByte() const { return static_cast<uint8_t>(body_[offset_]); }
  absl::Status ExpectEnd() const;

 private:
  absl::Status Truncated(std::string_view field) const;

  std::span<const std::byte> body_;
  size_t offset_ = 0;
  std::string_view what_;
};

// Network-order helpers for code that must read a fixed header before a
// reader exists (the framer). `bytes` must hold at least 4 (or 2) bytes.
inline uint32_t LoadBigEndian32(const std::byte* bytes) {
  return (static_cast<uint32_t>(bytes[0]) << 24) | (static_cast<uint32_t>(bytes[1]) << 16) |
         (static_cast<uint32_t>(bytes[2]) << 8) | static_cast<uint32_t>(bytes[3]);
}
inline uint16_t LoadBigEndian16(const std::byte* bytes) {
  return static_cast<uint16_t>((static_cast<uint16_t>(bytes[0]) << 8) |
                               static_cast<uint16_t>(bytes[1]));
}
inline void StoreBigEndian32(std::byte* bytes, uint32_t value) {
  bytes[0] = static_cast<std::byte>(value >> 24);
  bytes[1] = static_cast<std::byte>(value >> 16);
  bytes[2] = static_cast<std::byte>(value >> 8);
  bytes[3] = static_cast<std::byte>(value);
}

}  // namespace pgvalve::protocol
