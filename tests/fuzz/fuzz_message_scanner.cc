// Fuzzes MessageScanner through the relay's own way of driving it
// (tests/unit/protocol/relay_model.h), with the buffer capacity, the read
// sizes and the visitor's answers taken from the input
// (message_scanner_fuzz_input.h).
//
// An independent walk over the input's headers says what must happen: how
// many bytes are forwarded (with in-place rewrites applied), where the
// message boundaries are, how many messages are announced, and whether and
// with which SQLSTATE the scan fails. Any difference aborts.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/message_reader.h"
#include "protocol/message_scanner.h"
#include "protocol/protocol_error.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/message_scanner_fuzz_input.h"
#include "tests/unit/protocol/relay_model.h"

namespace pgvalve::fuzz {
namespace {

using protocol::MessageAction;

struct Expectation {
  bool ok = true;
  std::string sqlstate;         // when !ok
  size_t forwarded = 0;         // exact when ok, an upper bound when not
  size_t leftover = 0;          // bytes the relay still holds, when ok
  size_t announced = 0;         // messages answered other than kHold
  std::vector<std::byte> output;  // the stream with the rewrites applied
  std::vector<bool> boundary;   // boundary[n]: n forwarded bytes end a message
};

uint8_t ActionFor(const ScannerFuzzInput& input, size_t message) {
  return input.actions[message % input.actions.size()];
}

Expectation Expect(const ScannerFuzzInput& input) {
  std::span<const std::byte> stream = std::as_bytes(input.stream);
  Expectation e;
  e.output.assign(stream.begin(), stream.end());
  e.boundary.assign(stream.size() + 1, false);
  e.boundary[0] = true;
  const auto fail = [&e](std::string_view sqlstate, size_t at) {
    e.ok = false;
    e.sqlstate = sqlstate;
    e.forwarded = at;
    return e;
  };
  size_t at = 0;
  while (true) {
    const size_t left = stream.size() - at;
    if (left < protocol::kMessageHeaderSize) {
      e.forwarded = at;
      e.leftover = left;
      return e;
    }
    const uint32_t length = protocol::LoadBigEndian32(stream.data() + at + 1);
    if (length < 4 || length > input.max_length) return fail("08P01", at);
    const size_t total = size_t{1} + length;
    const uint8_t action = ActionFor(input, e.announced++);
    if ((action & kActionInspect) == 0) {
      if (total > left) {
        e.forwarded = stream.size();  // the partial body streams through
        return e;
      }
    } else {
      if (total > input.capacity) return fail("08P01", at);
      if (total > left) {
        e.forwarded = at;
        e.leftover = left;
        return e;
      }
      if ((action & kActionRefuse) == kActionRefuse) return fail("57P01", at);
      if ((action & kActionRewrite) != 0) {
        for (size_t i = at + protocol::kMessageHeaderSize; i < at + total; ++i) {
          e.output[i] ^= std::byte{kRewriteMask};
        }
      }
    }
    at += total;
    e.boundary[at] = true;
  }
}

class FuzzVisitor {
 public:
  explicit FuzzVisitor(const ScannerFuzzInput& input) : input_(input) {}

  MessageAction OnMessageStart(char tag, uint32_t length) {
    PGVALVE_FUZZ_CHECK(!awaiting_body_);  // the previous inspected message came first
    const uint8_t action = ActionFor(input_, announced_);
    if ((action & kActionHold) != 0 && !held_) {
      held_ = true;
      return MessageAction::kHold;
    }
    held_ = false;
    ++announced_;
    action_ = action;
    tag_ = tag;
    length_ = length;
    awaiting_body_ = (action & kActionInspect) != 0;
    return awaiting_body_ ? MessageAction::kInspect : MessageAction::kStream;
  }

  absl::Status OnMessage(char tag, std::span<std::byte> body) {
    PGVALVE_FUZZ_CHECK(awaiting_body_ && tag == tag_ && body.size() == length_ - 4);
    awaiting_body_ = false;
    if ((action_ & kActionRefuse) == kActionRefuse) {
      return protocol::ErrorWithSqlState("57P01", "refused by the fuzz visitor");
    }
    if ((action_ & kActionRewrite) != 0) {
      for (std::byte& b : body) b ^= std::byte{kRewriteMask};
    }
    return absl::OkStatus();
  }

  size_t announced() const { return announced_; }

 private:
  const ScannerFuzzInput& input_;
  size_t announced_ = 0;
  bool held_ = false;
  bool awaiting_body_ = false;
  uint8_t action_ = 0;
  char tag_ = 0;
  uint32_t length_ = 0;
};

}  // namespace
}  // namespace pgvalve::fuzz

extern "C" int PGVALVE_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace pgvalve;
  using namespace pgvalve::fuzz;
  std::optional<ScannerFuzzInput> input = DecodeScannerFuzzInput(std::span(data, size));
  if (!input) return 0;
  const Expectation expected = Expect(*input);
  std::span<const std::byte> stream = std::as_bytes(input->stream);

  protocol::MessageScanner scanner(input->max_length);
  FuzzVisitor visitor(*input);
  protocol::testutil::RelayOptions options;
  options.capacity = input->capacity;
  // xorshift32: read sizes that vary but repeat for the same input.
  options.next_chunk = [state = uint32_t{input->read_seed} * 0x9e3779b9u + 1u,
                        largest = input->largest_read]() mutable {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return 1 + state % largest;
  };
  options.after_scan = [&](const protocol::MessageScanner& s, const protocol::ScanResult& result,
                           size_t forwarded) {
    PGVALVE_FUZZ_CHECK(forwarded <= stream.size());
    PGVALVE_FUZZ_CHECK(s.AtMessageBoundary() == expected.boundary[forwarded]);
    if (result.stop == protocol::ScanStop::kHeld) PGVALVE_FUZZ_CHECK(expected.boundary[forwarded]);
  };
  protocol::testutil::RelayTrace trace = protocol::testutil::RunRelay(stream, scanner, visitor, options);

  PGVALVE_FUZZ_CHECK(!trace.forward_out_of_range);
  PGVALVE_FUZZ_CHECK(!trace.held_forever);
  PGVALVE_FUZZ_CHECK(visitor.announced() == expected.announced);
  // Whatever happened, what went out is the start of the expected output.
  PGVALVE_FUZZ_CHECK(trace.forwarded.size() <= expected.forwarded);
  PGVALVE_FUZZ_CHECK(std::equal(trace.forwarded.begin(), trace.forwarded.end(), expected.output.begin()));
  if (expected.ok) {
    PGVALVE_FUZZ_CHECK(trace.status.ok());
    PGVALVE_FUZZ_CHECK(trace.forwarded.size() == expected.forwarded);
    PGVALVE_FUZZ_CHECK(trace.unread == 0);
    PGVALVE_FUZZ_CHECK(trace.leftover == expected.leftover);
  } else {
    PGVALVE_FUZZ_CHECK(!trace.status.ok());
    PGVALVE_FUZZ_CHECK(protocol::SqlStateOf(trace.status) == expected.sqlstate);
  }
  return 0;
}
