#pragma once
// A query of pgvalve's own on a relaying session's backend
// (SessionControl::Probe), run between two of the client's requests: what
// is to be sent, who is sending it, the replies the server pump takes out
// of the stream for it, who waits for its end, and the answer handed to the
// caller at its ReadyForQuery. All of it exists only while a probe runs:
// most sessions never see one. The relay does the writing and the waiting
// (relay_probe.cc); this type does no I/O.

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/cancellation_signal.hpp>

#include "absl/status/status.h"
#include "protocol/message_tags.h"
#include "proxy/asio.h"
#include "proxy/session_record.h"

namespace pgvalve::proxy {

class RelayProbe {
 public:
  using Done = std::function<void(SessionControl::ProbeResult)>;

  // From Begin until the answer was handed over.
  bool active() const { return state_ != nullptr; }
  // Sent: the server's replies belong to the probe until its ReadyForQuery.
  bool awaiting_replies() const { return active() && !state_->sql_to_send; }
  bool awaiting_send() const { return active() && state_->sql_to_send.has_value(); }
  // Its query is to be sent and nobody is sending it yet.
  bool send_due() const { return awaiting_send() && !state_->sender; }

  void Begin(std::string sql, Done done);
  // The query's text, once; afterwards replies are awaited.
  std::string TakeSql();

  // The coroutine sending the query, ended by CancelSender. Shared with
  // the coroutine's completion handler, which may run after the probe
  // ended (a failed write ends it): SenderEnded forgets only its own.
  void SenderStarted(std::shared_ptr<asio::cancellation_signal> sender);
  void SenderEnded(const asio::cancellation_signal* sender);
  void CancelSender();

  // The timer a pump waiting for the probe's end sleeps on; cancelled when
  // the probe ends, which ends the wait early. Null clears it (the waiter
  // gave up first).
  void SetWaiter(asio::steady_timer* waiter);
  // A reply to the probe; at its ReadyForQuery the answer is handed over
  // and the probe is no longer active. Errors are the server's framing.
  absl::Status OnReply(protocol::BackendTag tag, std::span<const std::byte> body);
  // Ends the probe with an error (it could not be sent).
  void Fail(std::string error);

  // What a simple query is answered with. Notifications and parameter
  // changes may arrive meanwhile; they belong to the client.
  static bool IsReply(protocol::BackendTag tag);

 private:
  struct State {
    Done done;
    std::optional<std::string> sql_to_send;
    std::shared_ptr<asio::cancellation_signal> sender;
    asio::steady_timer* waiter = nullptr;
    std::optional<std::vector<std::optional<std::string>>> first_row;
    std::optional<std::string> error;
  };

  void Finish();

  // Allocated by Begin: most sessions never see a probe.
  std::unique_ptr<State> state_;
};

}  // namespace pgvalve::proxy
