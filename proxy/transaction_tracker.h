#pragma once
// Follows one session's request/response rhythm from the message tags
// alone: which client messages expect a ReadyForQuery, how many are still
// unanswered, and the transaction status the last ReadyForQuery reported.
// It is what lets pgvalve find transaction boundaries (pause, drain) and show
// pg_stat_activity-like states without parsing queries.

#include <algorithm>
#include <cstdint>

#include "protocol/backend_messages.h"
#include "protocol/message_tags.h"
#include "proxy/session_state.h"

namespace pgvalve::proxy {

class TransactionTracker {
 public:
  void OnClientMessage(protocol::FrontendTag tag) {
    using protocol::FrontendTag;
    switch (tag) {
      // Each of these is answered by exactly one ReadyForQuery...
      case FrontendTag::kQuery:
      case FrontendTag::kFunctionCall:
        ++awaiting_ready_;
        unsynced_ = false;
        syncs_since_execute_ = 0;
        break;
      case FrontendTag::kSync:
        // ...except a Sync the server receives in copy-in mode, which it
        // ignores (see OnCopyInResponse).
        if (copy_in_) break;
        ++awaiting_ready_;
        ++syncs_since_execute_;
        unsynced_ = false;
        break;
      case FrontendTag::kExecute:
        syncs_since_execute_ = 0;
        unsynced_ = true;
        break;
      // COPY data belongs to the request that started the COPY.
      case FrontendTag::kCopyData:
        break;
      case FrontendTag::kCopyDone:
      case FrontendTag::kCopyFail:
        copy_in_ = false;
        break;
      // Password and SASL messages belong to the startup, which the server
      // ends with a ReadyForQuery of its own.
      case FrontendTag::kPassword:
        break;
      case FrontendTag::kTerminate:
        terminated_ = true;
        break;
      // Parse/Bind/Describe/Close/Flush: an extended-protocol batch whose
      // ReadyForQuery only comes after its Sync.
      default:
        unsynced_ = true;
        break;
    }
  }

  // The server entered copy-in mode. It ignores Syncs until the client's
  // CopyDone or CopyFail, including the one a client pipelines right after
  // the Execute that started the COPY (libpq does: P B D E S, then the data,
  // then CopyDone and another Sync), so those are not awaited.
  void OnCopyInResponse() {
    copy_in_ = true;
    awaiting_ready_ -= std::min(awaiting_ready_, syncs_since_execute_);
    syncs_since_execute_ = 0;
  }

  void OnReadyForQuery(protocol::TransactionStatus status) {
    // The ReadyForQuery that ends startup answers no request.
    if (awaiting_ready_ > 0) --awaiting_ready_;
    status_ = status;
    ready_seen_ = true;
  }

  // Nothing sent by the client is still unanswered.
  bool quiet() const { return awaiting_ready_ == 0 && !unsynced_; }
  // Requests (Query, Sync, FunctionCall) the server still owes a ReadyForQuery.
  uint32_t awaiting_ready() const { return awaiting_ready_; }
  // The server is reading COPY data: it answers nothing until the client
  // ends the copy.
  bool in_copy_in() const { return copy_in_; }
  // Quiet and outside any transaction block: the point where a session can
  // be paused or closed without cutting anything short.
  bool at_transaction_boundary() const {
    return quiet() && ready_seen_ && status_ == protocol::TransactionStatus::kIdle;
  }
  bool ready_seen() const { return ready_seen_; }
  bool client_terminated() const { return terminated_; }
  protocol::TransactionStatus transaction_status() const { return status_; }

  SessionState State() const {
    if (!ready_seen_) return SessionState::kStarting;
    if (!quiet()) return SessionState::kActive;
    switch (status_) {
      case protocol::TransactionStatus::kIdle: return SessionState::kIdle;
      case protocol::TransactionStatus::kInTransaction: return SessionState::kIdleInTransaction;
      case protocol::TransactionStatus::kFailed: return SessionState::kIdleInFailedTransaction;
    }
    return SessionState::kActive;
  }

 private:
  uint32_t awaiting_ready_ = 0;
  // Syncs sent since the last Execute or Query: the ones a copy-in started
  // by that request makes the server ignore.
  uint32_t syncs_since_execute_ = 0;
  bool copy_in_ = false;
  bool unsynced_ = false;
  bool ready_seen_ = false;
  bool terminated_ = false;
  protocol::TransactionStatus status_ = protocol::TransactionStatus::kIdle;
};

}  // namespace pgvalve::proxy
