#pragma once
// The close requests on a relaying session (an operator's CLOSE or KILL, a
// DRAIN's escalation, a stale primary's read-only refusal): one that is due,
// which ends the relay at once, and at most one waiting for a boundary,
// which the relay checks whenever the server has answered.

#include <memory>
#include <optional>

#include "proxy/relay_end.h"
#include "proxy/session_record.h"
#include "proxy/transaction_tracker.h"

namespace pgvalve::proxy {

class RelayCloseRequests {
 public:
  // True when the request is due now, and the relay must be woken to end.
  // A request after one already due changes nothing.
  bool Request(CloseWhen when, RelayEnd end, const TransactionTracker& tracker);
  // Drops the waiting request; one already due stays.
  void WithdrawWaiting() { waiting_.reset(); }

  // Stays set once due: every part of the relay that looks must see it.
  // Null while none is.
  const RelayEnd* due() const { return due_.get(); }
  // The waiting request, once the session has reached its boundary.
  std::optional<RelayEnd> TakeIfReached(const TransactionTracker& tracker);

  static bool Reached(CloseWhen when, const TransactionTracker& tracker);

 private:
  // Pointers: most sessions are never asked to close, and an idle one
  // should not carry two empty RelayEnds.
  std::unique_ptr<RelayEnd> due_;
  std::unique_ptr<RelayEnd> waiting_;
  CloseWhen waiting_for_ = CloseWhen::kTransactionBoundary;
};

}  // namespace pgvalve::proxy
