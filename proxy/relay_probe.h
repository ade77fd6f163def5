#pragma once
// A query of pgvalve's own on a relaying session's backend
// (SessionControl::Probe), run between two of the client's requests: what
// is to be sent, the replies the server pump takes out of the stream for
// it, and the answer handed to the caller at its ReadyForQuery. The relay
// sends the query and waits; this type holds no I/O.

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "protocol/message_tags.h"
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

  void Begin(std::string sql, Done done);
  // The query's text, once; afterwards replies are awaited.
  std::string TakeSql();
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
    std::optional<std::vector<std::optional<std::string>>> first_row;
    std::optional<std::string> error;
  };

  void Finish();

  // Allocated by Begin: most sessions never see a probe.
  std::unique_ptr<State> state_;
};

}  // namespace pgvalve::proxy
