#include "proxy/relay.h"

#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>

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
    if (relay_.discard_) return DiscardedMessageStart(*relay_.discard_, message);
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
  // Streams (to be dropped) up to the request's last message, then stops
  // before whatever follows it.
  static MessageAction DiscardedMessageStart(Discard& discard, FrontendTag message) {
    if (discard.last_message_started) return MessageAction::kHold;
    if (!discard.until_sync || message == FrontendTag::kSync) discard.last_message_started = true;
    return MessageAction::kStream;
  }

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

Relay::Relay(ByteStream& client, BackendLink& backend, SessionRecord& record,
             CancelKeyMap& cancel_keys, DatabaseGate& gate, RelayLimits limits,
             std::function<void()> on_startup_complete)
    : client_(client),
      backend_(backend),
      record_(record),
      cancel_keys_(cancel_keys),
      gate_(gate),
      limits_(limits),
      client_buffer_(limits.buffer_size),
      server_buffer_(limits.buffer_size),
      client_scanner_(limits.max_client_message_size),
      server_scanner_(protocol::kMaxRepresentableMessageLength),
      probe_done_(client.executor()),
      on_startup_complete_(std::move(on_startup_complete)),
      control_timer_(client.executor(), limits.startup_deadline) {}

Awaitable<RelayEnd> Relay::Run() {
  // One parallel group of the three branches, the first to end cancelling
  // the others: what `a || b || c` does, without the two wrapper coroutines
  // nesting the operator costs, which stay allocated for as long as the
  // session lives (about 1.5 KiB of every idle session).
  auto executor = co_await asio::this_coro::executor;
  auto [order, client_error, client_end, server_error, server_end, control_error, control_end] =
      co_await asio::experimental::make_parallel_group(
          asio::co_spawn(executor, PumpClientToServer(), asio::deferred),
          asio::co_spawn(executor, PumpServerToClient(), asio::deferred),
          asio::co_spawn(executor, WatchControl(), asio::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  // The session may take a while yet to end (Terminate, closing the
  // backend); its buffers can serve other sessions meanwhile.
  client_buffer_.Release();
  server_buffer_.Release();
  const std::exception_ptr errors[] = {client_error, server_error, control_error};
  if (errors[order[0]]) std::rethrow_exception(errors[order[0]]);
  switch (order[0]) {
    case 0: co_return std::move(client_end);
    case 1: co_return std::move(server_end);
    default: co_return std::move(control_end);
  }
}

void Relay::RequestClose(CloseWhen when, std::string sqlstate, std::string message) {
  if (close_requests_.Request(when, RelayEnd{RelayEndReason::kCloseRequested, std::move(message), std::move(sqlstate)},
                              tracker_)) {
    WakeControl();
  }
}

Awaitable<RelayEnd> Relay::PumpClientToServer() {
  ClientVisitor visitor(*this);
  // Set when the buffer may hold messages not scanned yet (after a hold).
  bool rescan = false;
  while (true) {
    if (!rescan) {
      // See reactor_receive.h: only a request being answered guarantees
      // that a client gone with its last bytes is noticed.
      const bool answer_owed =
          client_scanner_.AtMessageBoundary() && tracker_.awaiting_ready() > 0 && !tracker_.in_copy_in();
      auto [read_error, read] =
          co_await client_.Receive(client_buffer_, answer_owed ? ReceiveStart::kTrustEdge : ReceiveStart::kReadFirst);
      if (read_error) co_return RelayEnd{RelayEndReason::kClientDisconnected, read_error.message(), {}};
      client_buffer_.Commit(read);
      record_.counters().add_bytes_from_client(read);
    }
    rescan = false;

    const protocol::ScanResult scanned =
        client_scanner_.Scan(client_buffer_.filled(), client_buffer_.capacity(), visitor);

    if (discard_) {
      client_buffer_.Consume(scanned.forward);
      // What is dropped must still be framed: past a bad header nothing can
      // say where the request ends.
      if (scanned.stop == ScanStop::kInvalid) co_return co_await EndForClientViolation(scanned.error);
      if (discard_->last_message_started && client_scanner_.AtMessageBoundary()) {
        // The held request is gone; the client gets the ReadyForQuery that
        // ends it, as after any failed request.
        discard_.reset();
        protocol::MessageWriter ready;
        protocol::AppendReadyForQuery(ready, protocol::TransactionStatus::kIdle);
        if (!co_await InjectToClient(ready.bytes())) {
          co_return RelayEnd{RelayEndReason::kClientDisconnected, "write failed", {}};
        }
        rescan = !client_buffer_.empty();
      }
      continue;
    }

    PublishState();
    // Even before a bad message, what came first goes on, so the server is
    // left between messages.
    if (scanned.forward > 0) {
      server_write_cut_ = true;
      // Sent here when the socket takes it all, as it nearly always does:
      // even WriteAll's own fast path costs a coroutine frame per write.
      const auto bytes = client_buffer_.filled().first(scanned.forward);
      auto [write_error, written] = backend_.stream.TrySend(bytes);
      if (!write_error && written < bytes.size()) {
        std::tie(write_error, written) = co_await backend_.stream.WriteAll(bytes.subspan(written));
      }
      if (write_error) {
        co_return RelayEnd{RelayEndReason::kServerDisconnected, write_error.message(), {}};
      }
      server_write_cut_ = false;
      client_buffer_.Consume(scanned.forward);
    }
    if (scanned.stop == ScanStop::kInvalid) co_return co_await EndForClientViolation(scanned.error);
    if (tracker_.client_terminated() && client_scanner_.AtMessageBoundary()) {
      co_return RelayEnd{RelayEndReason::kClientTerminated, "client sent Terminate", {}};
    }
    if (scanned.stop == ScanStop::kHeld && probe_.active()) {
      if (!co_await WaitForProbe()) {
        co_return RelayEnd{RelayEndReason::kCloseRequested,
                           "pgvalve's inspection query got no answer from the server",
                           std::string(protocol::sqlstate::kConnectionFailure)};
      }
      rescan = true;
    } else if (scanned.stop == ScanStop::kHeld) {
      switch (co_await HoldUntilResumed()) {
        case HoldOutcome::kResumed:
          // Asked to close while held (a CUTOVER closes the sessions left
          // on the old server before it resumes): the held request gets
          // the FATAL and never reaches that server.
          if (close_requests_.due()) co_return *close_requests_.due();
          break;
        case HoldOutcome::kTimedOut:
          if (!co_await StartDiscardingHeldRequest()) {
            co_return RelayEnd{RelayEndReason::kClientDisconnected, "write failed", {}};
          }
          break;
        case HoldOutcome::kAborted:
          co_return RelayEnd{RelayEndReason::kCloseRequested, "hold aborted", {}};
        case HoldOutcome::kClientLeft:
          co_return RelayEnd{RelayEndReason::kClientDisconnected,
                             "the client left while its request was held", {}};
      }
      rescan = true;
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

Awaitable<RelayEnd> Relay::PumpServerToClient() {
  ServerVisitor visitor(*this);
  // Held from the first byte of a message to its last, so nothing pgvalve
  // injects can land inside a relayed message.
  bool have_turn = false;
  // Set when the buffer may hold messages not scanned yet (after a probe
  // reply was taken out).
  bool rescan = false;
  while (true) {
    if (!rescan) {
      const ReceiveStart start =
          std::exchange(server_may_close_, false) ? ReceiveStart::kReadFirst : ReceiveStart::kTrustEdge;
      auto [read_error, read] = co_await backend_.stream.Receive(server_buffer_, start);
      if (read_error) {
        co_return RelayEnd{RelayEndReason::kServerDisconnected,
                           read_error == asio::error::eof ? "server closed the connection"
                                                          : read_error.message(),
                           {}};
      }
      server_buffer_.Commit(read);
    }
    rescan = false;

    const protocol::ScanResult scanned =
        server_scanner_.Scan(server_buffer_.filled(), server_buffer_.capacity(), visitor);
    if (scanned.forward > 0) {
      if (!have_turn) {
        if (!client_writer_.TryAcquire() && !co_await client_writer_.Acquire()) {
          co_return RelayEnd{RelayEndReason::kCloseRequested, "relay ending", {}};
        }
        have_turn = true;
      }
      client_write_cut_ = true;
      // As in the client pump: at once when the socket takes it all.
      const auto bytes = server_buffer_.filled().first(scanned.forward);
      auto [write_error, written] = client_.TrySend(bytes);
      if (!write_error && written < bytes.size()) {
        std::tie(write_error, written) = co_await client_.WriteAll(bytes.subspan(written));
      }
      if (write_error) {
        co_return RelayEnd{RelayEndReason::kClientDisconnected, write_error.message(), {}};
      }
      client_write_cut_ = false;
      record_.counters().add_bytes_to_client(scanned.forward);
      server_buffer_.Consume(scanned.forward);
      if (server_scanner_.AtMessageBoundary()) {
        client_writer_.Release();
        have_turn = false;
      }
    }
    if (scanned.stop == ScanStop::kInvalid) {
      co_return RelayEnd{RelayEndReason::kServerProtocolError, std::string(StatusText(scanned.error)),
                         std::string(protocol::sqlstate::kProtocolViolation)};
    }
    if (scanned.stop == ScanStop::kHeld) {
      // A reply to the probe is at the front; once whole, it is taken out.
      const protocol::HeldMessage reply = protocol::HeldMessageAt(server_buffer_.filled());
      if (reply.size > server_buffer_.capacity()) {
        co_return RelayEnd{RelayEndReason::kServerProtocolError, "reply to the probe is too long",
                           std::string(protocol::sqlstate::kProtocolViolation)};
      }
      if (reply.whole) {
        if (absl::Status taken = ConsumeProbeReply(reply.tag, reply.body); !taken.ok()) {
          co_return RelayEnd{RelayEndReason::kServerProtocolError, std::string(StatusText(taken)),
                             std::string(protocol::sqlstate::kProtocolViolation)};
        }
        server_buffer_.Consume(reply.size);
        rescan = true;
      }
    }
    if (std::optional<RelayEnd> close = close_requests_.TakeIfReached(tracker_)) co_return *std::move(close);
  }
}

Awaitable<RelayEnd> Relay::WatchControl() {
  while (true) {
    // Copied, not taken: a held request that a RESUME releases meanwhile
    // must still see it (see PumpClientToServer).
    if (close_requests_.due()) co_return *close_requests_.due();
    if (probe_.awaiting_send()) {
      co_await SendProbe();
      continue;
    }
    if (tracker_.ready_seen()) {
      control_timer_.expires_at(std::chrono::steady_clock::time_point::max());
    } else if (std::chrono::steady_clock::now() >= limits_.startup_deadline) {
      co_return RelayEnd{RelayEndReason::kStartupTimeout,
                         "startup and authentication did not complete in time",
                         std::string(protocol::sqlstate::kConnectionFailure)};
    }
    auto [error] = co_await control_timer_.async_wait(kUseTuple);
    // Aborted without a wake-up of ours: a pump ended the relay and this
    // branch is being cancelled. Returning now, rather than waiting again,
    // spares the exception that wait would throw, which costs as much as
    // the rest of a short session's end.
    if (error == asio::error::operation_aborted && !std::exchange(control_woken_, false)) {
      co_return RelayEnd{RelayEndReason::kCloseRequested, "relay ending", {}};
    }
  }
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
  answers_done_.emplace(co_await asio::this_coro::executor, std::chrono::steady_clock::time_point::max());
  // Ends when the server pump cancels the timer at the last answer, or when
  // the relay is ending and the next wait throws.
  while (tracker_.awaiting_ready() > 0) co_await answers_done_->async_wait(kUseTuple);
  answers_done_.reset();
}

absl::Status Relay::OnBackendKeyData(std::span<std::byte> body) {
  absl::StatusOr<protocol::BackendKeyData> key = protocol::ParseBackendKeyData(body);
  if (!key.ok()) return key.status();
  if (backend_.key) return protocol::ProtocolViolation("second BackendKeyData from the server");

  BackendKey real{backend_.upstream_name, backend_.endpoint, key->pid,
                  std::vector<std::byte>(key->secret.begin(), key->secret.end())};
  backend_.key = real;
  VirtualKey minted = cancel_keys_.Register(CancelTarget{record_.id(), real});
  record_.SetBackend(minted.pid, std::move(real));

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
    WakeControl();
    if (on_startup_complete_) on_startup_complete_();
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
      cancel_keys_.VirtualPidOf(backend_.upstream_name, notification->pid);
  if (!virtual_pid) return absl::OkStatus();
  return protocol::RewriteNotificationPid(body, *virtual_pid);
}

absl::Status Relay::OnErrorResponse(std::span<const std::byte> body) {
  absl::StatusOr<protocol::ErrorFields> error = protocol::ParseErrorOrNotice(body);
  if (!error.ok()) return error.status();
  if (error->sqlstate != protocol::sqlstate::kReadOnlySqlTransaction) return absl::OkStatus();
  std::optional<RouteSwitch> route_switch = gate_.route_switch();
  if (!route_switch || route_switch->upstream == backend_.upstream_name) return absl::OkStatus();
  // PgBouncer #1311: clients kept writing to a demoted primary for days.
  spdlog::warn(
      "session {}: upstream {} refused a write as read-only (25006) and database {} has been switched "
      "to {}: a stale primary; closing the session at its transaction boundary",
      record_.id(), QuoteForLog(backend_.upstream_name), QuoteForLog(gate_.name()),
      QuoteForLog(route_switch->upstream));
  RequestClose(CloseWhen::kTransactionBoundary, std::string(protocol::sqlstate::kAdminShutdown),
               fmt::format("terminating connection: upstream \"{}\" is read-only and database \"{}\" has "
                           "moved to \"{}\"; reconnect",
                           backend_.upstream_name, gate_.name(), route_switch->upstream));
  return absl::OkStatus();
}

absl::Status Relay::OnParameterStatus(std::span<const std::byte> body) {
  absl::StatusOr<protocol::ParameterStatus> parameter = protocol::ParseParameterStatus(body);
  if (!parameter.ok()) return parameter.status();
  if (parameter->name == "application_name") record_.SetApplicationName(parameter->value);
  backend_.parameters.Set(parameter->name, parameter->value);
  return absl::OkStatus();
}

}  // namespace pgvalve::proxy
