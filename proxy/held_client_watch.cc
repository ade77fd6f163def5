#include "proxy/held_client_watch.h"

#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>

namespace pgvalve::proxy {

Awaitable<HeldWake> WaitForTimerOrClient(asio::steady_timer& timer, ByteStream& client) {
  auto executor = co_await asio::this_coro::executor;
  auto [order, timer_error, client_exception, client_result] =
      co_await asio::experimental::make_parallel_group(
          timer.async_wait(asio::deferred),
          asio::co_spawn(executor, client.WaitReadable(), asio::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  if (client_exception) std::rethrow_exception(client_exception);
  const error_code client_error = std::get<0>(client_result);
  // A socket wait that was cancelled says nothing about the client: the
  // session is ending, and the timer's wait was cancelled with it.
  if (order[0] == 1 && client_error != asio::error::operation_aborted) {
    co_return HeldWake{HeldWake::What::kReadable, client_error};
  }
  co_return HeldWake{HeldWake::What::kTimer, timer_error};
}

}  // namespace pgvalve::proxy
