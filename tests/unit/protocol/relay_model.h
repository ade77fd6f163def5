#pragma once
// The caller of MessageScanner, modelled exactly as the relay drives it: a
// buffer of fixed capacity; after each Scan() the first `forward` bytes are
// "sent", the rest is moved to the front, and the next chunk from the
// "socket" is appended, only as much as fits, before scanning again. After
// kHeld the relay resumes without reading first.
//
// Shared by the scanner unit tests and the scanner fuzzer, so both check the
// scanner against the same caller.

#include <algorithm>
#include <cstddef>
#include <functional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "protocol/message_scanner.h"

#if defined(__SANITIZE_ADDRESS__)
#define PGVALVE_RELAY_MODEL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PGVALVE_RELAY_MODEL_ASAN 1
#endif
#endif
#ifdef PGVALVE_RELAY_MODEL_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace pgvalve::protocol::testutil {

struct RelayOptions {
  size_t capacity = 8192;
  // How many bytes the socket delivers next (at least 1); called once per
  // read.
  std::function<size_t()> next_chunk = [] { return size_t{1} << 20; };
  // Called after every successful Scan() with its result and the number of
  // bytes forwarded so far (this call's included).
  std::function<void(const MessageScanner&, const ScanResult&, size_t forwarded_total)> after_scan;
  // A visitor that keeps holding the same message would stall the relay;
  // stop after this many holds with nothing forwarded in between.
  size_t max_consecutive_holds = 16;
};

struct RelayTrace {
  std::vector<std::byte> forwarded;  // everything "sent", in order
  absl::Status status;               // the first Scan() error, if any
  size_t scans = 0;
  size_t holds = 0;
  size_t unread = 0;    // input bytes never read into the buffer
  size_t leftover = 0;  // bytes left in the buffer when the run stopped
  bool held_forever = false;
  // The scanner returned a `forward` beyond the bytes it was given.
  bool forward_out_of_range = false;
};

// Runs `input` through `scanner` until an error, or until neither reading
// nor scanning makes progress (the input is used up, or the stream stalls).
template <MessageVisitor Visitor>
RelayTrace RunRelay(std::span<const std::byte> input, MessageScanner& scanner, Visitor& visitor,
                    const RelayOptions& options) {
  RelayTrace trace;
  std::vector<std::byte> buffer(options.capacity);
  size_t filled = 0;
  size_t read = 0;
  size_t consecutive_holds = 0;
  bool resuming_hold = false;
  while (true) {
    size_t arrived = 0;
    if (!resuming_hold) {
      arrived = std::min({options.next_chunk(), options.capacity - filled, input.size() - read});
      std::copy_n(input.begin() + static_cast<std::ptrdiff_t>(read), arrived,
                  buffer.begin() + static_cast<std::ptrdiff_t>(filled));
      filled += arrived;
      read += arrived;
    }
#ifdef PGVALVE_RELAY_MODEL_ASAN
    // The part of the buffer past `filled` holds stale bytes; reading it is
    // a scanner bug the sanitizer should report.
    ASAN_POISON_MEMORY_REGION(buffer.data() + filled, options.capacity - filled);
#endif
    ScanResult result = scanner.Scan(std::span(buffer.data(), filled), options.capacity, visitor);
#ifdef PGVALVE_RELAY_MODEL_ASAN
    ASAN_UNPOISON_MEMORY_REGION(buffer.data(), options.capacity);
#endif
    ++trace.scans;
    const size_t forward = result.forward;
    if (forward > filled) {
      trace.forward_out_of_range = true;
      break;
    }
    if (result.stop == ScanStop::kInvalid) {
      // What came before the bad message still goes, as in the relay.
      trace.forwarded.insert(trace.forwarded.end(), buffer.begin(),
                             buffer.begin() + static_cast<std::ptrdiff_t>(forward));
      trace.status = result.error;
      break;
    }
    trace.forwarded.insert(trace.forwarded.end(), buffer.begin(),
                           buffer.begin() + static_cast<std::ptrdiff_t>(forward));
    if (forward > 0) {
      std::copy(buffer.begin() + static_cast<std::ptrdiff_t>(forward),
                buffer.begin() + static_cast<std::ptrdiff_t>(filled), buffer.begin());
      filled -= forward;
    }
    if (options.after_scan) options.after_scan(scanner, result, trace.forwarded.size());

    const bool made_progress = resuming_hold || arrived > 0 || forward > 0;
    resuming_hold = result.stop == ScanStop::kHeld;
    if (resuming_hold) {
      ++trace.holds;
      // Forwarding something means the visitor let a message through since
      // the last hold; only holds at the same place count towards a stall.
      if (forward > 0) consecutive_holds = 0;
      if (++consecutive_holds > options.max_consecutive_holds) {
        trace.held_forever = true;
        break;
      }
      continue;
    }
    consecutive_holds = 0;
    if (!made_progress) break;
  }
  trace.unread = input.size() - read;
  trace.leftover = filled;
  return trace;
}

}  // namespace pgvalve::protocol::testutil
