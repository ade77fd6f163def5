#pragma once
// What the kernel knows about this process, for /metrics: resident memory
// and open file descriptors, read from /proc at scrape time.

#include <cstdint>
#include <optional>

namespace pgvalve::admin {

struct ProcessStats {
  // nullopt where /proc could not be read (it always can on Linux; a
  // missing sample is better than a wrong one).
  std::optional<uint64_t> resident_bytes;
  std::optional<uint64_t> open_fds;
};

ProcessStats ReadProcessStats();

}  // namespace pgvalve::admin
