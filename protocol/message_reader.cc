#include "protocol/message_reader.h"

#include <cstring>

#include "fmt/format.h"
#include "protocol/protocol_error.h"

namespace pgvalve::protocol {

absl::Status MessageReader::Truncated(std::string_view field) const {
  return ProtocolViolation(fmt::format("{} message is truncated: no room for {} at byte {} of {}", what_,
                                       field, offset_, body_.size()));
}

absl::StatusOr<uint8_t> MessageReader::ReadByte() {
  if (remaining() < 1) return Truncated("a byte");
  return static_cast<uint8_t>(body_[offset_++]);
}

absl::StatusOr<int16_t> MessageReader::ReadInt16() {
  if (remaining() < 2) return Truncated("an Int16");
  uint16_t value = LoadBigEndian16(body_.data() + offset_);
  offset_ += 2;
  return static_cast<int16_t>(value);
}

absl::StatusOr<int32_t> MessageReader::ReadInt32() {
  if (remaining() < 4) return Truncated("an Int32");
  uint32_t value = LoadBigEndian32(body_.data() + offset_);
  offset_ += 4;
  return static_cast<int32_t>(value);
}

absl::StatusOr<std::string_view> MessageReader::ReadCString() {
  if (AtEnd()) return Truncated("a NUL-terminated string");
  const std::byte* start = body_.data() + offset_;
  const void* terminator = std::memchr(start, 0, remaining());
  if (terminator == nullptr) return Truncated("a NUL-terminated string");
  size_t length = static_cast<const std::byte*>(terminator) - start;
  offset_ += length + 1;
  return std::string_view(reinterpret_cast<const char*>(start), length);
}

absl::StatusOr<std::span<const std::byte>> MessageReader::ReadBytes(size_t count) {
  if (remaining() < count) return Truncated(fmt::format("{} bytes", count));
  std::span<const std::byte> bytes = body_.subspan(offset_, count);
  offset_ += count;
  return bytes;
}

std::span<const std::byte> MessageReader::ReadRest() {
  std::span<const std::byte> rest = body_.subspan(offset_);
  offset_ = body_.size();
  return rest;
}

absl::Status MessageReader::ExpectEnd() const {
  if (AtEnd()) return absl::OkStatus();
  return ProtocolViolation(
      fmt::format("{} message has {} unexpected trailing bytes", what_, remaining()));
}

}  // namespace pgvalve::protocol
