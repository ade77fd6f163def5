#pragma once
// Whether the proxy may accept one more client without eating into the
// descriptors kept for the admin console. Each live connection is counted
// as two descriptors (client and upstream), on top of those the process
// had open once it was ready (listeners, event loops, the log).

#include <cstdint>

namespace pgvalve::proxy {

// Descriptors the proxy listener leaves to the admin console, its control
// connections and the odd file (state file, reload).
inline constexpr uint64_t kAdminFdReserve = 32;

class FdBudget {
 public:
  // Reads the limit and counts the descriptors open now as the baseline.
  void Measure();

  bool Fits(uint64_t live_connections) const {
    return baseline_ + 2 * (live_connections + 1) + kAdminFdReserve <= limit_;
  }
  // Live connections at which Fits turns false.
  uint64_t capacity() const;

  uint64_t limit() const { return limit_; }
  uint64_t baseline() const { return baseline_; }

 private:
  uint64_t limit_ = UINT64_MAX;
  uint64_t baseline_ = 0;
};

}  // namespace pgvalve::proxy
