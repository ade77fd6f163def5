#pragma once
// Turn-taking between coroutines of one executor that write to the same
// stream: the relay's server-to-client pump and pgvalve's own messages to
// the client (errors for held requests) must never interleave. The common
// case, no contention, is a flag test with no allocation.

#include <list>
#include <memory>

#include "proxy/asio.h"

namespace pgvalve::proxy {

class AsyncTurn {
 public:
  bool TryAcquire() {
    if (busy_) return false;
    busy_ = true;
    return true;
  }

  // Waits for the turn; false when the wait was cancelled instead.
  Awaitable<bool> Acquire() {
    if (TryAcquire()) co_return true;
    auto waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor);
    waiters_.push_back(waiter);
    co_await waiter->timer.async_wait(kUseTuple);
    if (waiter->granted) co_return true;
    waiters_.remove(waiter);
    co_return false;
  }

  void Release() {
    if (waiters_.empty()) {
      busy_ = false;
      return;
    }
    // The turn passes straight to the next waiter; busy_ stays set.
    std::shared_ptr<Waiter> next = waiters_.front();
    waiters_.pop_front();
    next->granted = true;
    next->timer.cancel();
  }

  bool busy() const { return busy_; }

 private:
  struct Waiter {
    explicit Waiter(asio::any_io_executor executor)
        : timer(executor, asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    bool granted = false;
  };

  bool busy_ = false;
  std::list<std::shared_ptr<Waiter>> waiters_;
};

}  // namespace pgvalve::proxy
