#include "proxy/log_rate_limiter.h"

#include "fmt/format.h"

namespace pgvalve::proxy {

LogRateLimiter::LogRateLimiter(std::string what, uint32_t burst,
                               std::chrono::steady_clock::duration interval, Clock clock)
    : what_(std::move(what)),
      burst_(burst),
      interval_(interval),
      clock_(std::move(clock)),
      interval_start_(clock_()) {}

std::optional<std::string> LogRateLimiter::RollOver(std::chrono::steady_clock::time_point now,
                                                    bool force) {
  if (!force && now - interval_start_ < interval_) return std::nullopt;
  std::optional<std::string> summary;
  if (suppressed_ > 0) {
    const auto seconds = std::chrono::duration<double>(now - interval_start_).count();
    summary = fmt::format("{} more {} suppressed in the last {:.1f}s", suppressed_, what_, seconds);
  }
  interval_start_ = now;
  logged_ = 0;
  suppressed_ = 0;
  return summary;
}

LogRateLimiter::Decision LogRateLimiter::Admit() {
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  Decision decision;
  decision.summary = RollOver(now);
  if (logged_ < burst_) {
    ++logged_;
    decision.log = true;
  } else {
    ++suppressed_;
    ++suppressed_total_;
  }
  return decision;
}

std::optional<std::string> LogRateLimiter::TakeSummary() {
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  return RollOver(now);
}

std::optional<std::string> LogRateLimiter::TakeFinalSummary() {
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  return RollOver(now, /*force=*/true);
}

uint64_t LogRateLimiter::suppressed_total() const {
  std::lock_guard lock(mutex_);
  return suppressed_total_;
}

}  // namespace pgvalve::proxy
