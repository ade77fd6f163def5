#pragma once
// Byte helpers for the codec tests. Expected messages are spelled out with
// ByteBuilder, which writes every length exactly as the test gives it, so the
// MessageWriter under test is never its own oracle.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fmt/format.h"
#include "gmock/gmock.h"
#include "protocol/protocol_error.h"

namespace pgvalve::protocol::testutil {

using Bytes = std::vector<std::byte>;

inline std::span<const std::byte> AsSpan(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

inline Bytes ToBytes(std::string_view text) {
  std::span<const std::byte> span = AsSpan(text);
  return Bytes(span.begin(), span.end());
}

inline Bytes ToBytes(std::span<const std::byte> bytes) { return Bytes(bytes.begin(), bytes.end()); }

inline std::string_view AsText(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// "5a 00 00 00 05 49": failure messages show where two byte strings differ.
inline std::string Hex(std::span<const std::byte> bytes) {
  std::string text;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i > 0) text += ' ';
    text += fmt::format("{:02x}", static_cast<uint8_t>(bytes[i]));
  }
  return text;
}

inline Bytes Concat(std::span<const std::byte> a, std::span<const std::byte> b) {
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// Writes exactly what it is told, in network byte order.
class ByteBuilder {
 public:
  ByteBuilder& U8(uint8_t value) {
    bytes_.push_back(static_cast<std::byte>(value));
    return *this;
  }
  ByteBuilder& Tag(char tag) { return U8(static_cast<uint8_t>(tag)); }
  ByteBuilder& I16(int16_t value) {
    auto bits = static_cast<uint16_t>(value);
    return U8(static_cast<uint8_t>(bits >> 8)).U8(static_cast<uint8_t>(bits));
  }
  ByteBuilder& U32(uint32_t value) {
    return U8(static_cast<uint8_t>(value >> 24))
        .U8(static_cast<uint8_t>(value >> 16))
        .U8(static_cast<uint8_t>(value >> 8))
        .U8(static_cast<uint8_t>(value));
  }
  ByteBuilder& I32(int32_t value) { return U32(static_cast<uint32_t>(value)); }
  // The text and its NUL terminator.
  ByteBuilder& Str(std::string_view text) { return Raw(text).U8(0); }
  ByteBuilder& Raw(std::string_view text) { return Raw(AsSpan(text)); }
  ByteBuilder& Raw(std::span<const std::byte> bytes) {
    bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  ByteBuilder& Fill(size_t count, uint8_t value) {
    bytes_.insert(bytes_.end(), count, static_cast<std::byte>(value));
    return *this;
  }

  const Bytes& bytes() const { return bytes_; }
  size_t size() const { return bytes_.size(); }

 private:
  Bytes bytes_;
};

// `count` bytes 0, 1, 2, ... (mod 256): a secret whose every byte differs
// from its neighbours, so a shifted or shortened copy does not compare equal.
inline Bytes CountingBytes(size_t count, uint8_t first = 0) {
  Bytes out(count);
  for (size_t i = 0; i < count; ++i) out[i] = static_cast<std::byte>(first + i);
  return out;
}

// One tagged message of a well-formed stream, located independently of the
// scanner under test.
struct SplitMessage {
  size_t offset = 0;  // of the tag byte in the stream
  char tag = 0;
  uint32_t length = 0;  // the length field: body plus 4
  Bytes body;
  size_t end() const { return offset + 1 + length; }
};

// Splits a stream the test built itself; a malformed one is a test bug.
inline std::vector<SplitMessage> SplitStream(std::span<const std::byte> stream) {
  std::vector<SplitMessage> messages;
  size_t at = 0;
  while (at < stream.size()) {
    EXPECT_GE(stream.size() - at, 5u) << "test stream ends inside a header";
    if (stream.size() - at < 5) break;
    SplitMessage message;
    message.offset = at;
    message.tag = static_cast<char>(stream[at]);
    message.length = (static_cast<uint32_t>(stream[at + 1]) << 24) |
                     (static_cast<uint32_t>(stream[at + 2]) << 16) |
                     (static_cast<uint32_t>(stream[at + 3]) << 8) | static_cast<uint32_t>(stream[at + 4]);
    EXPECT_GE(message.length, 4u);
    EXPECT_LE(at + 1 + message.length, stream.size()) << "test stream ends inside a body";
    if (message.length < 4 || at + 1 + message.length > stream.size()) break;
    std::span<const std::byte> body = stream.subspan(at + 5, message.length - 4);
    message.body.assign(body.begin(), body.end());
    messages.push_back(std::move(message));
    at += 1 + messages.back().length;
  }
  return messages;
}

inline const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Matches a failed Status or StatusOr whose SQLSTATE is `code`.
MATCHER_P(HasSqlState, code, fmt::format("is an error with SQLSTATE {}", std::string(code))) {
  const absl::Status& status = StatusOf(arg);
  if (status.ok()) {
    *result_listener << "which is OK";
    return false;
  }
  std::string actual = SqlStateOf(status);
  *result_listener << "whose SQLSTATE is " << actual << " (" << status.message() << ")";
  return actual == std::string(code);
}

inline auto IsProtocolViolation() { return HasSqlState("08P01"); }

}  // namespace pgvalve::protocol::testutil
