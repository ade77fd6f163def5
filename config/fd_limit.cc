#include "config/fd_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace pgvalve::config {
namespace {

// RLIM_INFINITY cannot be the soft limit of RLIMIT_NOFILE: the kernel caps
// it at fs.nr_open.
uint64_t KernelFdCeiling() {
  std::ifstream in("/proc/sys/fs/nr_open");
  uint64_t value = 0;
  if (in >> value && value > 0) return value;
  return 1u << 20;
}

}  // namespace

FdLimits ReadFdLimits() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return {};
  return {static_cast<uint64_t>(limit.rlim_cur), static_cast<uint64_t>(limit.rlim_max)};
}

FdLimitRaise RaiseSoftFdLimit() {
  FdLimitRaise result;
  result.before = ReadFdLimits();
  result.after = result.before;
  uint64_t target = result.before.hard;
  if (target == static_cast<uint64_t>(RLIM_INFINITY)) target = KernelFdCeiling();
  if (result.before.soft >= target) return result;
  rlimit raised{static_cast<rlim_t>(target), static_cast<rlim_t>(result.before.hard)};
  if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    result.error = std::strerror(errno);
    return result;
  }
  result.after = ReadFdLimits();
  return result;
}

uint64_t FdsNeeded(const ProxySettings& proxy) {
  return uint64_t{proxy.max_client_connections} * 2 + proxy.max_startup_connections +
         kReservedFds;
}

std::optional<std::string> FdLimitWarning(const ProxySettings& proxy, uint64_t limit) {
  const uint64_t needed = FdsNeeded(proxy);
  if (needed <= limit) return std::nullopt;
  return absl::StrCat(
      "the file-descriptor limit (", limit, ") is below what the configuration may need (",
      needed, " = max_client_connections ", proxy.max_client_connections, " x 2 + ",
      "max_startup_connections ", proxy.max_startup_connections, " + ", kReservedFds,
      " reserved); raise the hard limit (ulimit -Hn, systemd LimitNOFILE) or lower "
      "max_client_connections. pgvalve stops accepting clients before it runs out, "
      "keeping the reserve for the admin console");
}

}  // namespace pgvalve::config
