#include "proxy/fd_budget.h"

#include <filesystem>

#include "config/fd_limit.h"

namespace pgvalve::proxy {
namespace {

uint64_t CountOpenFds() {
  std::error_code error;
  uint64_t count = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end; !error && it != end;
       it.increment(error)) {
    ++count;
  }
  // The iterator's own descriptor was listed too.
  return count > 0 ? count - 1 : 0;
}

}  // namespace

void FdBudget::Measure() {
  limit_ = config::ReadFdLimits().soft;
  baseline_ = CountOpenFds();
}

uint64_t FdBudget::capacity() const {
  const uint64_t fixed = baseline_ + kAdminFdReserve;
  return limit_ > fixed ? (limit_ - fixed) / 2 : 0;
}

}  // namespace pgvalve::proxy
