#include "proxy/relay.h"

#include "fmt/format.h"
#include "protocol/backend_messages.h"
#include "protocol/backend_writer.h"
#include "protocol/message_reader.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/log_text.h"
#include "proxy/status_text.h"
#include "spdlog/spdlog.h"

namespace pgvalve::proxy {

using protocol::BackendTag;
using protocol::FrontendTag;
using protocol::MessageAction;
using protocol::ScanStop;

// Client to server: nothing needs to be seen whole; the tags alone drive
// the transaction tracker, the pause gate and the discarding of a request
// that was held too long.
class Relay::ClientVisitor {
 public:
  explicit ClientVisitor(Relay& relay) : relay_(relay) {}

  MessageAction OnMessageStart(char tag, uint32_t /*length*/) {
    const auto message = static_cast<FrontendTag>(tag);
    if (relay_.discard_) return relay_.discard_->OnMessageStart(message);
    // No backend to send it to: the request waits for one.
    if (!relay_.backend_) return MessageAction::kHold;
    // The backend is answering pgvalve's probe; the client's request waits.
    if (relay_.probe_.active()) return MessageAction::kHold;
    if (message != FrontendTag::kTerminate && relay_.tracker_.at_transaction_boundary() &&
        relay_.gate_.paused()) {
      return MessageAction::kHold;
    }
    relay_.tracker_.OnClientMessage(message);
    return MessageAction::kStream;
  }
  absl::Status OnMessage(char /*tag*/, std::span<std::byte> /*body*/) { return absl::OkStatus(); }

 private:
  Relay& relay_;
};

// Server to client: BackendKeyData is replaced, the pid in a
// NotificationResponse translated, ReadyForQuery and ParameterStatus are
// read; everything else streams through.
class Relay::ServerVisitor {
 public:
  explicit ServerVisitor(Relay& relay) : relay_(relay) {}

  MessageAction OnMessageStart(char tag, uint32_t length) {
    const auto message = static_cast<BackendTag>(tag);
    // What PostgreSQL sends last before it ends a session (a FATAL, or a
    // WARNING at an immediate shutdown); its close may have come with it.
    if (message == BackendTag::kErrorResponse || message == BackendTag::kNoticeResponse) {
      relay_.server_may_close_ = true;
    }
    // Replies to pgvalve's probe stop the scan; the pump takes them out.
    if (relay_.probe_.awaiting_replies() && RelayProbe::IsReply(message)) return MessageAction::kHold;
    switch (message) {
      case BackendTag::kBackendKeyData:
      case BackendTag::kReadyForQuery:
        return MessageAction::kInspect;
      case BackendTag::kCopyInResponse:
        relay_.tracker_.OnCopyInResponse();
        return MessageAction::kStream;
      case BackendTag::kParameterStatus:
        // A value too long for the buffer is passed on unread; pgvalve only
        // displays parameters, it never depends on them.
        return length < relay_.server_buffer_.capacity() ? MessageAction::kInspect
                                                         : MessageAction::kStream;
      case BackendTag::kErrorResponse:
        return relay_.gate_.route_switched() && length < relay_.server_buffer_.capacity()
                   ? MessageAction::kInspect
                   : MessageAction::kStream;
      case BackendTag::kNotificationResponse:
        // PostgreSQL keeps a payload under 8000 bytes (BLCKSZ less some), so
        // this always fits; one that did not would pass on untranslated
        // rather than end the session.
        return length < relay_.server_buffer_.capacity() ? MessageAction::kInspect
                                                         : MessageAction::kStream;
      default:
        return MessageAction::kStream;
    }
  }

  absl::Status OnMessage(char tag, std::span<std::byte> body) {
    switch (static_cast<BackendTag>(tag)) {
      case BackendTag::kBackendKeyData: return relay_.OnBackendKeyData(body);
      case BackendTag::kReadyForQuery: return relay_.OnReadyForQuery(body);
      case BackendTag::kParameterStatus: return relay_.OnParameterStatus(body);
      case BackendTag::kNotificationResponse: return relay_.OnNotificationResponse(body);
      case BackendTag::kErrorResponse: return relay_.OnErrorResponse(body);
      default: return absl::OkStatus();
    }
  }

 private:
  Relay& relay_;
};

Relay::Relay(RelayOwner& owner, ByteStream& client, BackendLink& backend, SessionRecord& record,
             CancelKeyMap& cancel_keys, DatabaseGate& gate, RelayLimits limits)
    : owner_(owner),
      client_(client),
      backend_(&backend),
      record_(record),
      cancel_keys_(cancel_keys),
      gate_(gate),
      limits_(limits),
      client_buffer_(limits.buffer_size),
      server_buffer_(limits.buffer_size),
      client_scanner_(limits.max_client_message_size),
      server_scanner_(protocol::kMaxRepresentableMessageLength) {}

void Relay::RequestClose(CloseWhen when, std::string sqlstate, std::string message) {
  RelayEnd end{RelayEndReason::kCloseRequested, std::move(message), std::move(sqlstate)};
  if (close_requests_.Request(when, std::move(end), tracker_)) WakeSupervisor();
}

// --- The pumps' common path: a receive, a step, the next receive. ---

void Relay::ArmClientReceive() {
  if (stopping_) return OnPumpStopped(client_pump_);
  // See reactor_receive.h: only a request being answered guarantees that a
  // client gone with its last bytes is noticed.
  const bool answer_owed =
      client_scanner_.AtMessageBoundary() && tracker_.awaiting_ready() > 0 && !tracker_.in_copy_in();
  client_pump_.state = PumpState::kReceiving;
  client_.StartReceive(client_buffer_, answer_owed ? ReceiveStart::kTrustEdge : ReceiveStart::kReadFirst,
                       {&Relay::OnClientReceived, this});
}

void Relay::OnClientReceived(void* target, error_code error, size_t read) {
  Relay& self = *static_cast<Relay*>(target);
  if (self.stopping_) return self.OnPumpStopped(self.client_pump_);
  if (error) {
    self.EndClient(RelayEnd{RelayEndReason::kClientDisconnected, error.message(), {}});
    return self.OnPumpEnded(self.client_pump_);
  }
  self.client_pump_.state = PumpState::kStepping;
  try {
    self.client_buffer_.Commit(read);
    self.record_.counters().add_bytes_from_client(read);
    self.DriveClient(self.ClientStep());
  } catch (...) {
    self.OnStepFailed(self.client_pump_);
  }
}

void Relay::DriveClient(ClientNext next) {
  switch (next) {
    case ClientNext::kRead: return ArmClientReceive();
    case ClientNext::kEnd: return OnPumpEnded(client_pump_);
    default: return StartCoroutine(client_pump_, ContinueClient(next));
  }
}

Relay::ClientNext Relay::EndClient(RelayEnd end) {
  client_pump_.end = std::make_unique<RelayEnd>(std::move(end));
  return ClientNext::kEnd;
}

Relay::ClientNext Relay::ClientStep() {
  ClientVisitor visitor(*this);
  Pump& pump = client_pump_;
  if (!pump.scan) {
    pump.scan = client_scanner_.Scan(client_buffer_.filled(), client_buffer_.capacity(), visitor);
    pump.sent = 0;
    if (discard_) {
      const protocol::ScanResult scanned = *std::exchange(pump.scan, std::nullopt);
      client_buffer_.Consume(scanned.forward);
      // What is dropped must still be framed: past a bad header nothing can
      // say where the request ends.
      if (scanned.stop == ScanStop::kInvalid) {
        client_violation_ = scanned.error;
        return ClientNext::kViolation;
      }
      if (discard_->Complete(client_scanner_.AtMessageBoundary())) {
        // The held request is gone; the client gets the ReadyForQuery that
        // ends it, as after any failed request.
        discard_.reset();
        return ClientNext::kSendReady;
      }
      return ClientNext::kRead;
    }
    PublishState();
  }
  const protocol::ScanResult& scanned = *pump.scan;
  // Even before a bad message, what came first goes on, so the server is
  // left between messages.
  if (pump.sent < scanned.forward) {
    server_write_cut_ = true;
    auto [write_error, written] = backend_->stream.TrySend(pump.Unsent(client_buffer_));
    if (write_error) return EndClient(RelayEnd{RelayEndReason::kServerDisconnected, write_error.message(), {}});
    pump.sent += written;
    if (pump.sent < scanned.forward) return ClientNext::kFinishWrite;
  }
  if (scanned.forward > 0) {
    server_write_cut_ = false;
    client_buffer_.Consume(scanned.forward);
  }
  const protocol::ScanResult done = *std::exchange(pump.scan, std::nullopt);
  if (done.stop == ScanStop::kInvalid) {
    client_violation_ = done.error;
    return ClientNext::kViolation;
  }
  if (tracker_.client_terminated() && client_scanner_.AtMessageBoundary()) {
    return EndClient(RelayEnd{RelayEndReason::kClientTerminated, "client sent Terminate", {}});
  }
  if (done.stop == ScanStop::kHeld) {
    if (!backend_) return ClientNext::kWaitForBackend;
    return probe_.active() ? ClientNext::kWaitForProbe : ClientNext::kHold;
  }
  return ClientNext::kRead;
}

void Relay::ArmServerReceive() {
  if (stopping_) return OnPumpStopped(server_pump_);
  if (release_ && BackendReleasable()) return ReleaseBackend();
  const ReceiveStart start =
      std::exchange(server_may_close_, false) ? ReceiveStart::kReadFirst : ReceiveStart::kTrustEdge;
  server_pump_.state = PumpState::kReceiving;
  backend_->stream.StartReceive(server_buffer_, start, {&Relay::OnServerReceived, this});
}

void Relay::OnServerReceived(void* target, error_code error, size_t read) {
  Relay& self = *static_cast<Relay*>(target);
  if (self.stopping_) return self.OnPumpStopped(self.server_pump_);
  // ReleaseBackendWhenIdle took the receive back; the next one decides.
  if (error == asio::error::operation_aborted && self.release_) return self.ArmServerReceive();
  if (error) {
    self.EndServer(RelayEnd{RelayEndReason::kServerDisconnected,
                            error == asio::error::eof ? "server closed the connection" : error.message(),
                            {}});
    return self.OnPumpEnded(self.server_pump_);
  }
  self.server_pump_.state = PumpState::kStepping;
  try {
    self.server_buffer_.Commit(read);
    self.DriveServer(self.ServerStep());
  } catch (...) {
    self.OnStepFailed(self.server_pump_);
  }
}

void Relay::DriveServer(ServerNext next) {
  switch (next) {
    case ServerNext::kRead: return ArmServerReceive();
    case ServerNext::kEnd: return OnPumpEnded(server_pump_);
    default: return StartCoroutine(server_pump_, ContinueServer(next));
  }
}

Relay::ServerNext Relay::EndServer(RelayEnd end) {
  server_pump_.end = std::make_unique<RelayEnd>(std::move(end));
  return ServerNext::kEnd;
}

Relay::ServerNext Relay::ServerStep() {
  ServerVisitor visitor(*this);
  Pump& pump = server_pump_;
  while (true) {
    if (!pump.scan) {
      pump.scan = server_scanner_.Scan(server_buffer_.filled(), server_buffer_.capacity(), visitor);
      pump.sent = 0;
    }
    const protocol::ScanResult& scanned = *pump.scan;
    if (scanned.forward > 0) {
      if (!server_has_turn_) {
        if (!client_writer_.TryAcquire()) return ServerNext::kAcquireTurn;
        server_has_turn_ = true;
      }
      if (pump.sent < scanned.forward) {
        client_write_cut_ = true;
        auto [write_error, written] = client_.TrySend(pump.Unsent(server_buffer_));
        if (write_error) return EndServer(RelayEnd{RelayEndReason::kClientDisconnected, write_error.message(), {}});
        pump.sent += written;
        if (pump.sent < scanned.forward) return ServerNext::kFinishWrite;
      }
      client_write_cut_ = false;
      record_.counters().add_bytes_to_client(scanned.forward);
      server_buffer_.Consume(scanned.forward);
      if (server_scanner_.AtMessageBoundary()) {
        client_writer_.Release();
        server_has_turn_ = false;
      }
    }
    const protocol::ScanResult done = *std::exchange(pump.scan, std::nullopt);
    if (done.stop == ScanStop::kInvalid) {
      return EndServer(RelayEnd{RelayEndReason::kServerProtocolError, std::string(StatusText(done.error)),
                                std::string(protocol::sqlstate::kProtocolViolation)});
    }
    bool rescan = false;
    if (done.stop == ScanStop::kHeld) {
      // A reply to the probe is at the front; once whole, it is taken out
      // and the rest scanned.
      const protocol::HeldMessage reply = protocol::HeldMessageAt(server_buffer_.filled());
      if (reply.size > server_buffer_.capacity()) {
        return EndServer(RelayEnd{RelayEndReason::kServerProtocolError, "reply to the probe is too long",
                                  std::string(protocol::sqlstate::kProtocolViolation)});
      }
      if (reply.whole) {
        // At its ReadyForQuery the probe ends, and a client pump waiting
        // for it goes on.
        if (absl::Status taken = probe_.OnReply(static_cast<BackendTag>(reply.tag), reply.body); !taken.ok()) {
          return EndServer(RelayEnd{RelayEndReason::kServerProtocolError, std::string(StatusText(taken)),
                                    std::string(protocol::sqlstate::kProtocolViolation)});
        }
        server_buffer_.Consume(reply.size);
        rescan = true;
      }
    }
    if (std::optional<RelayEnd> close = close_requests_.TakeIfReached(tracker_)) {
      return EndServer(*std::move(close));
    }
    if (!rescan) return ServerNext::kRead;
  }
}

// --- Where a pump has to wait in the middle of a step. ---

Awaitable<void> Relay::ContinueClient(ClientNext next) {
  while (true) {
    switch (next) {
      case ClientNext::kRead:
        ArmClientReceive();
        co_return;
      case ClientNext::kEnd:
        co_return;
      case ClientNext::kFinishWrite: {
        auto [write_error, written] = co_await backend_->stream.WriteAll(client_pump_.Unsent(client_buffer_));
        if (write_error) {
          next = EndClient(RelayEnd{RelayEndReason::kServerDisconnected, write_error.message(), {}});
          break;
        }
        client_pump_.sent = client_pump_.scan->forward;
        next = ClientStep();
        break;
      }
      case ClientNext::kViolation:
        next = EndClient(co_await EndForClientViolation(client_violation_));
        break;
      case ClientNext::kWaitForProbe:
        if (!co_await WaitForProbe()) {
          next = EndClient(RelayEnd{RelayEndReason::kCloseRequested,
                                    "pgvalve's inspection query got no answer from the server",
                                    std::string(protocol::sqlstate::kConnectionFailure)});
          break;
        }
        next = ClientStep();
        break;
      case ClientNext::kHold:
        switch (co_await HoldUntilResumed()) {
          case RequestHold::Outcome::kWoken:
            // Asked to close while held (a CUTOVER closes the sessions left
            // on the old server before it resumes): the held request gets
            // the FATAL and never reaches that server.
            next = close_requests_.due() ? EndClient(*close_requests_.due()) : ClientStep();
            break;
          case RequestHold::Outcome::kTimedOut: {
            const bool answered = co_await StartDiscardingHeldRequest();
            if (answered) {
              next = ClientStep();
            } else {
              next = EndClient(RelayEnd{RelayEndReason::kClientDisconnected, "write failed", {}});
            }
            break;
          }
          case RequestHold::Outcome::kAborted:
            next = EndClient(RelayEnd{RelayEndReason::kCloseRequested, "hold aborted", {}});
            break;
          case RequestHold::Outcome::kClientLeft:
            next = EndClient(RelayEnd{RelayEndReason::kClientDisconnected,
                                      "the client left while its request was held", {}});
            break;
        }
        break;
      case ClientNext::kWaitForBackend: {
        // Not a conditional expression around co_await: GCC 12 mishandles
        // the temporaries of its branches.
        const bool attached = co_await WaitForBackend();
        if (attached) {
          next = ClientStep();
        } else {
          next = EndClient(RelayEnd{RelayEndReason::kClientDisconnected,
                                    "the client left while its request waited for a backend", {}});
        }
        break;
      }
      case ClientNext::kSendReady: {
        protocol::MessageWriter ready;
        protocol::AppendReadyForQuery(ready, protocol::TransactionStatus::kIdle);
        if (!co_await InjectToClient(ready.bytes())) {
          next = EndClient(RelayEnd{RelayEndReason::kClientDisconnected, "write failed", {}});
        } else {
          next = client_buffer_.empty() ? ClientNext::kRead : ClientStep();
        }
        break;
      }
    }
  }
}

Awaitable<void> Relay::ContinueServer(ServerNext next) {
  while (true) {
    switch (next) {
      case ServerNext::kRead:
        ArmServerReceive();
        co_return;
      case ServerNext::kEnd:
        co_return;
      case ServerNext::kAcquireTurn:
        if (!co_await client_writer_.Acquire()) {
          next = EndServer(RelayEnd{RelayEndReason::kCloseRequested, "relay ending", {}});
          break;
        }
        server_has_turn_ = true;
        next = ServerStep();
        break;
      case ServerNext::kFinishWrite: {
        auto [write_error, written] = co_await client_.WriteAll(server_pump_.Unsent(server_buffer_));
        if (write_error) {
          next = EndServer(RelayEnd{RelayEndReason::kClientDisconnected, write_error.message(), {}});
          break;
        }
        server_pump_.sent = server_pump_.scan->forward;
        next = ServerStep();
        break;
      }
    }
  }
}

Awaitable<RelayEnd> Relay::EndForClientViolation(const absl::Status& error) {
  // PostgreSQL answers every request it read before the bad message; so
  // does pgvalve, by letting the server pump finish first (unless the
  // server is waiting for COPY data, the answer to which never comes).
  if (tracker_.awaiting_ready() > 0 && !tracker_.in_copy_in()) co_await WaitForAnswers();
  co_return RelayEnd{RelayEndReason::kClientProtocolError, std::string(StatusText(error)),
                     protocol::SqlStateOf(error)};
}

Awaitable<bool> Relay::InjectToClient(std::span<const std::byte> bytes) {
  if (!client_writer_.TryAcquire() && !co_await client_writer_.Acquire()) co_return false;
  client_write_cut_ = true;
  auto [error, written] = co_await client_.WriteAll(bytes);
  client_writer_.Release();
  if (error) co_return false;
  client_write_cut_ = false;
  co_return true;
}

Awaitable<void> Relay::WaitForAnswers() {
  answers_done_ = std::make_unique<asio::steady_timer>(client_.executor(), asio::steady_timer::time_point::max());
  // Ends when the server pump cancels the timer at the last answer, or when
  // the relay is ending and the next wait throws.
  while (tracker_.awaiting_ready() > 0) co_await answers_done_->async_wait(kUseTuple);
  answers_done_.reset();
}

absl::Status Relay::OnBackendKeyData(std::span<std::byte> body) {
  absl::StatusOr<protocol::BackendKeyData> key = protocol::ParseBackendKeyData(body);
  if (!key.ok()) return key.status();
  if (backend_->key_received) return protocol::ProtocolViolation("second BackendKeyData from the server");

  auto real = std::make_shared<const BackendKey>(
      BackendKey{backend_->upstream_name, backend_->endpoint, key->pid,
                 CancelSecret(key->secret.begin(), key->secret.end())});
  backend_->key_received = true;
  VirtualKey minted = cancel_keys_.Register(CancelTarget{record_.id(), real});
  record_.SetBackend(minted.pid, std::move(real));
  // The server accepted the session: its database may have a histogram.
  if (!record_.has_transaction_latency()) {
    TransactionLatencies& latencies = owner_.Events().transaction_latencies();
    record_.SetTransactionLatency(latencies.ForThisThread(record_.identity().database));
  }

  // Minted as long as the server's key, so the rewrite happens in place.
  return protocol::RewriteBackendKeyData(body, minted.pid, minted.secret);
}

absl::Status Relay::OnReadyForQuery(std::span<const std::byte> body) {
  absl::StatusOr<protocol::TransactionStatus> status = protocol::ParseReadyForQuery(body);
  if (!status.ok()) return status.status();
  bool first = !tracker_.ready_seen();
  if (!first) record_.counters().add_queries(1);
  tracker_.OnReadyForQuery(*status);
  // A pipelining client's next request was already waiting at the server.
  if (!first && tracker_.awaiting_ready() > 0) record_.RestartQueryClock();
  if (answers_done_ && tracker_.awaiting_ready() == 0) answers_done_->cancel();
  PublishState();
  if (first) {
    // Wakes the watcher so the startup deadline stops applying.
    WakeSupervisor();
    owner_.OnStartupComplete();
  }
  // A PAUSE or DRAIN waits for sessions to reach this point.
  if (gate_.watched()) gate_.NotifyWatchers();
  return absl::OkStatus();
}

absl::Status Relay::OnNotificationResponse(std::span<std::byte> body) {
  absl::StatusOr<protocol::NotificationResponse> notification =
      protocol::ParseNotificationResponse(body);
  if (!notification.ok()) return notification.status();
  // The notifier is named by its real pid; a client knows pgvalve's
  // sessions only by their virtual pids (its own included, the usual way to
  // skip its own notifications). A backend pgvalve has no session on, such
  // as a direct connection, keeps its real pid: there is nothing else to
  // call it.
  std::optional<int32_t> virtual_pid =
      cancel_keys_.VirtualPidOf(backend_->upstream_name, notification->pid);
  if (!virtual_pid) return absl::OkStatus();
  return protocol::RewriteNotificationPid(body, *virtual_pid);
}

absl::Status Relay::OnErrorResponse(std::span<const std::byte> body) {
  absl::StatusOr<protocol::ErrorFields> error = protocol::ParseErrorOrNotice(body);
  if (!error.ok()) return error.status();
  if (error->sqlstate != protocol::sqlstate::kReadOnlySqlTransaction) return absl::OkStatus();
  std::optional<RouteSwitch> route_switch = gate_.route_switch();
  if (!route_switch || route_switch->upstream == backend_->upstream_name) return absl::OkStatus();
  // PgBouncer #1311: clients kept writing to a demoted primary for days.
  spdlog::warn(
      "session {}: upstream {} refused a write as read-only (25006) and database {} has been switched "
      "to {}: a stale primary; closing the session at its transaction boundary",
      record_.id(), QuoteForLog(backend_->upstream_name), QuoteForLog(gate_.name()),
      QuoteForLog(route_switch->upstream));
  RequestClose(CloseWhen::kTransactionBoundary, std::string(protocol::sqlstate::kAdminShutdown),
               fmt::format("terminating connection: upstream \"{}\" is read-only and database \"{}\" has "
                           "moved to \"{}\"; reconnect",
                           backend_->upstream_name, gate_.name(), route_switch->upstream));
  return absl::OkStatus();
}

absl::Status Relay::OnParameterStatus(std::span<const std::byte> body) {
  absl::StatusOr<protocol::ParameterStatus> parameter = protocol::ParseParameterStatus(body);
  if (!parameter.ok()) return parameter.status();
  if (parameter->name == "application_name") record_.SetApplicationName(parameter->value);
  return absl::OkStatus();
}

}  // namespace pgvalve::proxy
