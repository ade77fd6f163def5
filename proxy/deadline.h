#pragma once
// Racing an operation against a timer. Boost 1.81 has no cancel_after, so
// the awaitable `||` operator does it: whichever finishes first cancels the
// other.

#include <chrono>
#include <optional>

#include "proxy/asio.h"

namespace pgvalve::proxy {

inline Awaitable<void> SleepFor(std::chrono::steady_clock::duration duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(kUseTuple);
}

// The operation's result, or nullopt when `timeout` passed first.
template <typename T>
Awaitable<std::optional<T>> WithTimeout(Awaitable<T> operation,
                                        std::chrono::steady_clock::duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  auto outcome = co_await (std::move(operation) || SleepFor(timeout));
  if (outcome.index() == 1) co_return std::nullopt;
  co_return std::get<0>(std::move(outcome));
}

}  // namespace pgvalve::proxy
