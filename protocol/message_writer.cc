#include "protocol/message_writer.h"

#include <cassert>

#include "protocol/message_reader.h"

namespace pgvalve::protocol {

MessageWriter& MessageWriter::BeginTagged(char tag) {
  assert(open_length_at_ == kNoOpenMessage && "Begin() without End()");
  buffer_.push_back(static_cast<std::byte>(tag));
  return BeginUntagged();
}

MessageWriter& MessageWriter::BeginUntagged() {
  open_length_at_ = buffer_.size();
  buffer_.resize(buffer_.size() + 4);
  return *this;
}

MessageWriter& MessageWriter::End() {
  assert(open_length_at_ != kNoOpenMessage && "End() without Begin()");
  // The length counts itself but not the tag.
  StoreBigEndian32(buffer_.data() + open_length_at_,
                   static_cast<uint32_t>(buffer_.size() - open_length_at_));
  open_length_at_ = kNoOpenMessage;
  return *this;
}

MessageWriter& MessageWriter::Byte(uint8_t value) {
  buffer_.push_back(static_cast<std::byte>(value));
  return *this;
}

MessageWriter& MessageWriter::Int16(int16_t value) {
  auto bits = static_cast<uint16_t>(value);
  buffer_.push_back(static_cast<std::byte>(bits >> 8));
  buffer_.push_back(static_cast<std::byte>(bits));
  return *this;
}

MessageWriter& MessageWriter::Int32(int32_t value) {
  size_t at = buffer_.size();
  buffer_.resize(at + 4);
  StoreBigEndian32(buffer_.data() + at, static_cast<uint32_t>(value));
  return *this;
}

MessageWriter& MessageWriter::CString(std::string_view text) {
  // An embedded NUL would end the string early on the peer's side and shift
  // every later field, so only the part before it is written.
  Bytes(text.substr(0, text.find('\0')));
  buffer_.push_back(std::byte{0});
  return *this;
}

MessageWriter& MessageWriter::Bytes(std::span<const std::byte> bytes) {
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  return *this;
}

MessageWriter& MessageWriter::Bytes(std::string_view bytes) {
  return Bytes(std::as_bytes(std::span(bytes.data(), bytes.size())));
}

void MessageWriter::Clear() {
  buffer_.clear();
  open_length_at_ = kNoOpenMessage;
}

}  // namespace pgvalve::protocol
