#pragma once
// The one writer for messages pgvalve composes itself (errors, its own
// BackendKeyData, admin result sets, CancelRequests to upstreams).
// Begin() reserves the length field and End() back-patches it, so there is no
// separately computed size to drift out of sync with the body.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/message_tags.h"

namespace pgvalve::protocol {

class MessageWriter {
 public:
  MessageWriter() = default;

  // Starts a tagged message; messages may be appended one after another.
  MessageWriter& Begin(BackendTag tag) { return BeginTagged(static_cast<char>(tag)); }
  MessageWriter& Begin(FrontendTag tag) { return BeginTagged(static_cast<char>(tag)); }
  // Starts a message of the startup family, which has no tag byte.
  MessageWriter& BeginUntagged();
  // Closes the current message by writing its length.
  MessageWriter& End();

  MessageWriter& Byte(uint8_t value);
  MessageWriter& Int16(int16_t value);
  MessageWriter& Int32(int32_t value);
  MessageWriter& CString(std::string_view text);  // text, then NUL
  MessageWriter& Bytes(std::span<const std::byte> bytes);
  MessageWriter& Bytes(std::string_view bytes);

  std::span<const std::byte> bytes() const { return buffer_; }
  std::string_view view() const {
    return {reinterpret_cast<const char*>(buffer_.data()), buffer_.size()};
  }
  bool empty() const { return buffer_.empty(); }
  void Clear();

 private:
  MessageWriter& BeginTagged(char tag);

  std::vector<std::byte> buffer_;
  // Offset of the length field of the open message, or npos.
  size_t open_length_at_ = kNoOpenMessage;
  static constexpr size_t kNoOpenMessage = static_cast<size_t>(-1);
};

}  // namespace pgvalve::protocol
