#include "proxy/relay_close_requests.h"

#include <utility>

namespace pgvalve::proxy {

bool RelayCloseRequests::Reached(CloseWhen when, const TransactionTracker& tracker) {
  switch (when) {
    case CloseWhen::kNow: return true;
    case CloseWhen::kTransactionBoundary: return tracker.at_transaction_boundary();
    case CloseWhen::kRequestBoundary: return tracker.ready_seen() && tracker.quiet();
  }
  return true;
}

bool RelayCloseRequests::Request(CloseWhen when, RelayEnd end, const TransactionTracker& tracker) {
  if (due_) return false;
  if (Reached(when, tracker)) {
    due_ = std::make_unique<RelayEnd>(std::move(end));
    return true;
  }
  // A request boundary comes no later than a transaction boundary, so a
  // kRequestBoundary request replaces a waiting kTransactionBoundary one,
  // never the reverse.
  if (!waiting_ || when == CloseWhen::kRequestBoundary) {
    waiting_ = std::make_unique<RelayEnd>(std::move(end));
    waiting_for_ = when;
  }
  return false;
}

std::optional<RelayEnd> RelayCloseRequests::TakeIfReached(const TransactionTracker& tracker) {
  if (!waiting_ || !Reached(waiting_for_, tracker)) return std::nullopt;
  const std::unique_ptr<RelayEnd> reached = std::move(waiting_);
  return std::move(*reached);
}

}  // namespace pgvalve::proxy
