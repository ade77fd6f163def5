#pragma once
// A session held by PAUSE waits on a timer: cancelled by RESUME (or a close
// request), expiring at hold_timeout. Meanwhile its client may leave, and a
// client that left must not keep its place, or its backend, until then. So
// the holds wait for the timer and for the client's socket together.

#include "proxy/asio.h"
#include "proxy/byte_stream.h"

namespace pgvalve::proxy {

struct HeldWake {
  enum class What {
    kTimer,     // the timer completed; `error` says how (operation_aborted
                // when cancelled, by a wake-up or because the session ends)
    kReadable,  // the client sent bytes, closed or reset; a read tells which
  };
  What what = What::kTimer;
  error_code error;
};

// Waits until `timer` completes or `client` becomes readable, whichever is
// first, and cancels the other wait. The timer keeps its expiry, so the
// caller may wait on it again after reading what the client sent.
Awaitable<HeldWake> WaitForTimerOrClient(asio::steady_timer& timer, ByteStream& client);

}  // namespace pgvalve::proxy
