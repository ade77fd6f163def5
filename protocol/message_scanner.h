#pragma once
// Walks a stream of tagged v3 messages the way the relay needs it: it reads
// only the 5-byte headers, lets a visitor decide per message, hands the
// visitor the few messages it must see whole (in place, so it may rewrite
// them), and streams every other body through, however large, without
// copying. The caller forwards the first `forward` bytes of its buffer and
// keeps the rest (a partial header, or an inspected message still arriving)
// at the front of the buffer for the next call.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "protocol/message_reader.h"
#include "protocol/protocol_error.h"

namespace pgvalve::protocol {

// Tag byte plus the Int32 length, which counts itself but not the tag.
inline constexpr size_t kMessageHeaderSize = 5;
inline constexpr uint32_t kMinMessageLength = 4;
// The length field is an Int32: a larger value reads as negative, so no
// message can have it. The bound for a peer whose framing is trusted (the
// server; a DataRow may legitimately exceed 1 GiB).
inline constexpr uint32_t kMaxRepresentableMessageLength = 0x7FFFFFFF;

enum class MessageAction {
  kStream,   // forward without looking inside
  kInspect,  // collect whole, call OnMessage, then forward
  kHold,     // stop before this message; the caller resumes later
};

enum class ScanStop {
  kNeedMore,  // everything before `forward` may go; read more
  kHeld,      // the visitor asked to stop before the message at `forward`
  kInvalid,   // the message at `forward` breaks the protocol: see `error`
};

struct ScanResult {
  // Even with kInvalid, the bytes before `forward` are whole messages (or
  // the rest of one already partly forwarded) and should still go, so the
  // peer is left between messages and can be told what went wrong.
  size_t forward = 0;
  ScanStop stop = ScanStop::kNeedMore;
  absl::Status error;  // set with kInvalid
};

// The length field of a message header (a tag, then 4 bytes big-endian),
// which counts itself and the body but not the tag. Unchecked: the caller
// compares it with kMinMessageLength and its own limit.
inline uint32_t DeclaredLength(std::span<const std::byte, kMessageHeaderSize> header) {
  return LoadBigEndian32(header.data() + 1);
}

// The message a scan stopped at with kHeld, at the front of what is left:
// the header was checked by the scan, so its length can be trusted.
struct HeldMessage {
  char tag = 0;
  size_t size = 0;  // header included
  std::span<const std::byte> body;  // empty until all `size` bytes are there
  bool whole = false;
};
inline HeldMessage HeldMessageAt(std::span<const std::byte> front) {
  HeldMessage held{.tag = static_cast<char>(front[0]),
                   .size = 1 + size_t{LoadBigEndian32(front.data() + 1)}};
  held.whole = front.size() >= held.size;
  if (held.whole) held.body = front.subspan(kMessageHeaderSize, held.size - kMessageHeaderSize);
  return held;
}

// Visitor requirements:
//   MessageAction OnMessageStart(char tag, uint32_t length);
//     Called once per message, except that a message answered with kHold is
//     offered again when scanning resumes. Side effects belong to the
//     non-hold answers.
//   absl::Status OnMessage(char tag, std::span<std::byte> body);
//     Called for kInspect messages once they are whole. May rewrite the body
//     in place; a non-OK status stops the scan (kInvalid) before that message.
template <typename Visitor>
concept MessageVisitor = requires(Visitor& v, char tag, uint32_t length,
                                  std::span<std::byte> body) {
  { v.OnMessageStart(tag, length) } -> std::same_as<MessageAction>;
  { v.OnMessage(tag, body) } -> std::same_as<absl::Status>;
};

class MessageScanner {
 public:
  explicit MessageScanner(uint32_t max_message_length) : max_length_(max_message_length) {}

  // `filled` is the unforwarded data, starting where the previous call's
  // `forward` ended; `capacity` is how much the caller's buffer can hold, the
  // bound on any message that must be inspected whole.
  template <MessageVisitor Visitor>
  ScanResult Scan(std::span<std::byte> filled, size_t capacity, Visitor& visitor) {
    size_t pos = 0;
    const size_t size = filled.size();
    while (true) {
      if (body_left_ > 0) {
        size_t passing = std::min<size_t>(body_left_, size - pos);
        pos += passing;
        body_left_ -= passing;
        if (body_left_ > 0) return ScanResult{pos, ScanStop::kNeedMore};
      }
      if (size - pos < kMessageHeaderSize) return ScanResult{pos, ScanStop::kNeedMore};

      const char tag = static_cast<char>(filled[pos]);
      const uint32_t length = LoadBigEndian32(filled.data() + pos + 1);
      if (length < kMinMessageLength || length > max_length_) {
        return Invalid(pos, ProtocolViolation(fmt::format(
                                "invalid length {} for message type 0x{:02x} (allowed: 4 to {})",
                                static_cast<int32_t>(length), static_cast<uint8_t>(tag), max_length_)));
      }
      const size_t total = size_t{1} + length;

      if (!awaiting_inspected_) {
        MessageAction action = visitor.OnMessageStart(tag, length);
        if (action == MessageAction::kHold) return ScanResult{pos, ScanStop::kHeld};
        if (action == MessageAction::kStream) {
          size_t passing = std::min(total, size - pos);
          pos += passing;
          body_left_ = total - passing;
          continue;
        }
        if (total > capacity) {
          return Invalid(pos, ProtocolViolation(fmt::format("message type 0x{:02x} of {} bytes is too long",
                                                            static_cast<uint8_t>(tag), length)));
        }
      }
      if (size - pos < total) {
        awaiting_inspected_ = true;
        return ScanResult{pos, ScanStop::kNeedMore};
      }
      awaiting_inspected_ = false;
      absl::Status status =
          visitor.OnMessage(tag, filled.subspan(pos + kMessageHeaderSize, length - 4));
      if (!status.ok()) return Invalid(pos, std::move(status));
      pos += total;
    }
  }

  // True when every message forwarded so far was forwarded whole, so the
  // peer is between messages and pgvalve may send one of its own.
  bool AtMessageBoundary() const { return body_left_ == 0; }

 private:
  static ScanResult Invalid(size_t forward, absl::Status error) {
    return ScanResult{forward, ScanStop::kInvalid, std::move(error)};
  }

  uint32_t max_length_;
  // Body bytes of a streamed message that are still to come.
  uint64_t body_left_ = 0;
  // The message at the start of the next buffer was already announced and
  // is being collected for inspection.
  bool awaiting_inspected_ = false;
};

}  // namespace pgvalve::protocol
