// Fuzzes what the fleet reads from etcd: the input, as an answer of each
// call and as a watch's stream, through every parser of
// fleet/etcd_codec.h, and through the base64 decoder keys and values take.
//
// Besides not crashing:
//   - whatever bytes base64 carries come back out of it unchanged;
//   - a parsed range's keys and values are those bytes (they re-encode and
//     decode to themselves);
//   - a prefix's range end sorts after every key with that prefix;
//   - a watch's stream is cut into the same messages however it arrives
//     (whole, or in two pieces at any point), none over the bound.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fleet/etcd_codec.h"
#include "tests/fuzz/fuzz_check.h"

namespace pgvalve::fuzz {
namespace {

void CheckBase64(std::string_view input) {
  const std::optional<std::string> round_trip = fleet::Base64Decode(fleet::Base64Encode(input));
  PGVALVE_FUZZ_CHECK(round_trip.has_value() && *round_trip == input);
  if (std::optional<std::string> bytes = fleet::Base64Decode(input)) {
    PGVALVE_FUZZ_CHECK(fleet::Base64Decode(fleet::Base64Encode(*bytes)) == bytes);
  }
}

void CheckPrefixEnd(std::string_view prefix) {
  const std::string end = fleet::PrefixEnd(prefix);
  if (end == std::string(1, '\0')) return;  // every key: a prefix of 0xff bytes alone
  // Byte order, as etcd compares keys.
  PGVALVE_FUZZ_CHECK(std::string_view(end).compare(prefix) > 0);
  PGVALVE_FUZZ_CHECK(!std::string_view(end).starts_with(prefix));
}

void CheckAnswers(std::string_view answer) {
  if (absl::StatusOr<fleet::RangeResult> range = fleet::ParseRange(answer); range.ok()) {
    for (const fleet::KeyValue& kv : range->kvs) {
      PGVALVE_FUZZ_CHECK(fleet::Base64Decode(fleet::Base64Encode(kv.key)) == kv.key);
      PGVALVE_FUZZ_CHECK(fleet::Base64Decode(fleet::Base64Encode(kv.value)) == kv.value);
    }
  } else {
    PGVALVE_FUZZ_CHECK(!MessageOf(range.status()).empty());
  }
  (void)fleet::ParseHeaderOnly(answer);
  (void)fleet::ParseTxn(answer);
  (void)fleet::ParseLeaseGrant(answer);
  (void)fleet::ParseKeepAlive(answer);
  (void)fleet::ParseWatchMessage(answer);
}

// The messages `stream` is cut into, arriving as `pieces`; nullopt once the
// splitter refused a piece.
std::optional<std::vector<std::string>> Split(std::initializer_list<std::string_view> pieces) {
  constexpr size_t kBound = 64;
  fleet::WatchStreamSplitter splitter(kBound);
  std::vector<std::string> messages;
  for (std::string_view piece : pieces) {
    if (!splitter.Append(piece).ok()) return std::nullopt;
    while (std::optional<std::string> message = splitter.Next()) {
      PGVALVE_FUZZ_CHECK(message->size() <= kBound);
      PGVALVE_FUZZ_CHECK(message->find('\n') == std::string::npos);
      messages.push_back(*std::move(message));
    }
  }
  return messages;
}

void CheckSplitter(std::string_view stream) {
  const std::optional<std::vector<std::string>> whole = Split({stream});
  const size_t cut = stream.empty() ? 0 : static_cast<uint8_t>(stream[0]) % (stream.size() + 1);
  const std::optional<std::vector<std::string>> pieces = Split({stream.substr(0, cut), stream.substr(cut)});
  PGVALVE_FUZZ_CHECK(whole == pieces);
}

}  // namespace
}  // namespace pgvalve::fuzz

extern "C" int PGVALVE_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  pgvalve::fuzz::CheckAnswers(input);
  pgvalve::fuzz::CheckBase64(input);
  pgvalve::fuzz::CheckPrefixEnd(input);
  pgvalve::fuzz::CheckSplitter(input);
  return 0;
}
