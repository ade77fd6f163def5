#pragma once
// A client pump stopped before a request waits here until something outside
// wakes it (RESUME, a backend attached), its deadline passes, or its client
// leaves: a held client that left must not keep its place, or its backend,
// until then. Bytes the client sends meanwhile are kept in its buffer for
// after. Shared (make_shared): whoever wakes it, such as a gate's wake-up
// callback, may hold it past the relay's end.

#include <chrono>
#include <memory>

#include "proxy/asio.h"
#include "proxy/byte_stream.h"
#include "proxy/relay_buffer.h"
#include "proxy/session_counters.h"

namespace pgvalve::proxy {

class RequestHold {
 public:
  enum class Outcome {
    kWoken,
    kTimedOut,
    kAborted,     // the wait was cancelled: the relay is ending
    kClientLeft,  // EOF or a reset from the client
  };

  // Without a deadline, only Wake, the client or a cancellation ends it.
  RequestHold(asio::any_io_executor executor, std::chrono::steady_clock::time_point deadline);

  // On the executor; the wait returns kWoken.
  void Wake();
  bool woken() const { return woken_; }

  // Waits, reading what the client sends into `buffer`.
  Awaitable<Outcome> Wait(ByteStream& client, RelayBuffer& buffer, SessionCounters& counters);

 private:
  asio::steady_timer timer_;
  bool woken_ = false;
};

}  // namespace pgvalve::proxy
