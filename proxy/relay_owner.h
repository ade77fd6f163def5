#pragma once

#include <exception>
#include <memory>

#include "proxy/proxy_events.h"
#include "proxy/relay_end.h"

namespace pgvalve::proxy {

// What a relay needs of the session that owns it: an interface rather than
// callbacks and a handle, so that a relay keeps one reference to it.
class RelayOwner {
 public:
  // The owner itself, held by the relay's pending work (a pump's
  // coroutine, the supervisor's handlers) and, while the relay runs, by
  // its io_context's SessionKeeper.
  virtual std::shared_ptr<void> RelayKeepalive() = 0;
  // Once, at the server's first ReadyForQuery.
  virtual void OnStartupComplete() = 0;
  // Once, on the executor, when the relay has ended and nothing of it runs
  // any more: why it ended, and the unexpected error that ended it, if one
  // did.
  virtual void OnRelayEnded(RelayEnd end, std::exception_ptr failure) = 0;
  // Where the relay counts what /metrics shows of it beyond the session's
  // own counters: hold times, the transaction latency histograms.
  virtual ProxyEvents& Events() = 0;

 protected:
  ~RelayOwner() = default;
};

}  // namespace pgvalve::proxy
