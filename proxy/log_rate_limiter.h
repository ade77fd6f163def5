#pragma once
// A log line that may come from a flood (bogus cancel requests, connections
// refused at the door): the first `burst` occurrences of each interval are
// logged in full, the rest only counted, and the count is reported once the
// interval is over as "N more <what> suppressed in the last Xs". Logging is
// left to the caller, so the arithmetic is testable with an injected clock.
// Thread-safe: occurrences come from every worker.

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace pgvalve::proxy {

class LogRateLimiter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  LogRateLimiter(std::string what, uint32_t burst, std::chrono::steady_clock::duration interval,
                 Clock clock = std::chrono::steady_clock::now);

  struct Decision {
    // Log this occurrence in full.
    bool log = false;
    // The summary of the interval that has just ended, to log first.
    std::optional<std::string> summary;
  };
  Decision Admit();

  // The summary of an interval that is over and had suppressed lines, for a
  // periodic flush; nullopt otherwise. Without it a flood that stops would
  // never be summarised.
  std::optional<std::string> TakeSummary();
  // The summary of what has been suppressed so far, the interval over or
  // not: for the last flush before pgvalve stops.
  std::optional<std::string> TakeFinalSummary();

  // Occurrences counted but not logged since the start.
  uint64_t suppressed_total() const;

 private:
  // Closes the current interval if it is over (or `force`); its summary if
  // it had any.
  std::optional<std::string> RollOver(std::chrono::steady_clock::time_point now,
                                      bool force = false);

  const std::string what_;
  const uint32_t burst_;
  const std::chrono::steady_clock::duration interval_;
  const Clock clock_;

  mutable std::mutex mutex_;
  std::chrono::steady_clock::time_point interval_start_;
  uint32_t logged_ = 0;
  uint64_t suppressed_ = 0;
  uint64_t suppressed_total_ = 0;
};

}  // namespace pgvalve::proxy
