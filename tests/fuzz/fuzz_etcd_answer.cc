// Fuzzes what the fleet reads from etcd: the input, as an answer of each
// call, through every parser of fleet/etcd_codec.h, and through the base64
// decoder keys and values take.
//
// Besides not crashing:
//   - whatever bytes base64 carries come back out of it unchanged;
//   - a parsed range's keys and values are those bytes (they re-encode and
//     decode to themselves);
//   - a prefix's range end sorts after every key with that prefix.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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
}

}  // namespace
}  // namespace pgvalve::fuzz

extern "C" int PGVALVE_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  pgvalve::fuzz::CheckAnswers(input);
  pgvalve::fuzz::CheckBase64(input);
  pgvalve::fuzz::CheckPrefixEnd(input);
  return 0;
}
