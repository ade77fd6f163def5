#pragma once
// The file-descriptor limit (RLIMIT_NOFILE) against what the configuration
// may need. Every admitted session holds two descriptors (client and
// upstream), every connection still in startup one, and the admin console,
// control connections, listeners and worker event loops a few more.

#include <cstdint>
#include <optional>
#include <string>

#include "config/config.h"

namespace pgvalve::config {

// Descriptors kept beyond the sessions' for the admin console and its
// control connections, listeners, the log and the workers' event loops.
inline constexpr uint64_t kReservedFds = 64;

struct FdLimits {
  uint64_t soft = 0;
  uint64_t hard = 0;
};

// The current limits of this process.
FdLimits ReadFdLimits();

// Raises the soft limit to the hard one (the hard limit is what the
// operator granted, e.g. systemd's LimitNOFILE; the soft one is often an
// inherited 1024). Returns the limits before and after; on failure the
// "after" equals the "before" and `error` says why.
struct FdLimitRaise {
  FdLimits before;
  FdLimits after;
  std::string error;
};
FdLimitRaise RaiseSoftFdLimit();

// max_client_connections * 2 + max_startup_connections + kReservedFds.
uint64_t FdsNeeded(const ProxySettings& proxy);

// A warning when `limit` is below FdsNeeded, naming the settings to change.
std::optional<std::string> FdLimitWarning(const ProxySettings& proxy, uint64_t limit);

}  // namespace pgvalve::config
