#pragma once
// Whether new sessions may start yet. A fleet member must not admit a
// client before it has applied the fleet's shared state (a database
// disabled fleet-wide would let that client in); until then a client is
// told, as PostgreSQL tells it while starting, to come back (57P03).
// Sessions read one atomic; the reason is taken only for a refusal.

#include <atomic>
#include <mutex>
#include <optional>
#include <string>

namespace pgvalve::proxy {

class AdmissionHold {
 public:
  void Hold(std::string reason) {
    std::lock_guard lock(mutex_);
    reason_ = std::move(reason);
    held_.store(true, std::memory_order_release);
  }
  void Release() { held_.store(false, std::memory_order_release); }

  // Why new sessions are refused now; nullopt once they are admitted.
  std::optional<std::string> reason() const {
    if (!held_.load(std::memory_order_acquire)) return std::nullopt;
    std::lock_guard lock(mutex_);
    return reason_;
  }

 private:
  std::atomic<bool> held_{false};
  mutable std::mutex mutex_;
  std::string reason_;
};

}  // namespace pgvalve::proxy
