#pragma once
// The one set of rules a Config must satisfy, whether it came from a file,
// from flags, or from both. Readers check only syntax and types; every
// cross-field and range rule lives here so no source can bypass it.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "config/config.h"

namespace pgvalve::config {

struct IntegerRange {
  int64_t min;
  int64_t max;
  bool Contains(int64_t value) const { return value >= min && value <= max; }
};

inline constexpr IntegerRange kPortRange{1, 65535};
// Beyond a million a typo is likelier than intent; the fd limit binds first.
inline constexpr IntegerRange kMaxClientConnectionsRange{1, 1'000'000};
inline constexpr IntegerRange kMaxStartupConnectionsRange{1, 1'000'000};
// PostgreSQL keeps at most track_activity_query_size (up to 1 MB) of it.
inline constexpr IntegerRange kQueryTextLengthRange{0, 1'048'576};
inline constexpr IntegerRange kWorkersRange{0, 1024};
// Below 8 KiB ordinary sessions would trip on ParameterStatus bursts and
// error texts; above 2^31-1 the protocol's Int32 length cannot go.
inline constexpr IntegerRange kMaxMessageSizeRange{8192, 0x7fffffff};
// Timeouts are positive and at most a day: a larger value is a unit mistake
// ("5000s" for "5000ms") and would overflow timer arithmetic in nanoseconds
// long before it mattered.
inline constexpr Duration kMaxDuration{24 * 60 * 60 * 1000};

// `must be an integer between 1 and 65535, got 70000`
std::string RangeError(IntegerRange range, int64_t got);

// Checks every rule and fills in the `name` of upstreams and routes from
// their keys. Errors read "<source>: <key path>: <what>".
absl::Status Validate(Config& config, std::string_view source);

}  // namespace pgvalve::config
