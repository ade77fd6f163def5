#include "proxy/request_hold.h"

#include "proxy/held_client_watch.h"

namespace pgvalve::proxy {

RequestHold::RequestHold(asio::any_io_executor executor, std::chrono::steady_clock::time_point deadline)
    : timer_(std::move(executor), deadline) {}

void RequestHold::Wake() {
  woken_ = true;
  timer_.cancel();
}

Awaitable<RequestHold::Outcome> RequestHold::Wait(ByteStream& client, RelayBuffer& buffer,
                                                  SessionCounters& counters) {
  while (!woken_) {
    // The client's end can only be seen behind the bytes it sent after the
    // held request, so a client whose bytes fill the buffer is no longer
    // watched.
    if (buffer.full()) {
      auto [error] = co_await timer_.async_wait(kUseTuple);
      if (woken_) break;
      co_return error ? Outcome::kAborted : Outcome::kTimedOut;
    }
    const HeldWake wake = co_await WaitForTimerOrClient(timer_, client);
    if (woken_) break;
    if (wake.what == HeldWake::What::kTimer) co_return wake.error ? Outcome::kAborted : Outcome::kTimedOut;
    if (wake.error) co_return Outcome::kClientLeft;
    auto [read_error, read] = client.TryReadSome(buffer.free_space());
    if (MustWait(read_error)) continue;
    // EOF or a reset: the backend is released now, not at the wake-up.
    if (read_error) co_return Outcome::kClientLeft;
    buffer.Commit(read);
    counters.add_bytes_from_client(read);
  }
  co_return Outcome::kWoken;
}

}  // namespace pgvalve::proxy
