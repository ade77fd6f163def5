#pragma once
// The data path of one session: two pumps, client to server and server to
// client, each reading a chunk, letting a MessageScanner find the few
// messages pgvalve acts on, and writing the chunk on before reading again
// (backpressure by construction). A supervisor applies the startup deadline
// and requests from outside (close, probe). The first part to end the relay
// stops the others.
//
// The common path runs on completion callbacks, not coroutines: a pump
// waiting for its peer is a pending receive on its socket and nothing
// else, so an idle session holds no coroutine frame. A step that must wait
// in the middle (a write the socket did not take at once, a hold, a probe,
// a discarded request, a protocol violation) continues in a coroutine
// started for it, which hands the pump back to a receive when done.
//
// The client pump is also where PAUSE takes effect: at a transaction
// boundary, with the database paused, it stops before the next request and
// waits for RESUME, or answers the request with 57P03 after hold_timeout.
// A client that leaves while held ends the session at once.
//
// The server side can be handed back at a transaction boundary and another
// attached (ReleaseBackendWhenIdle, AttachBackend): the seam pooling will
// use. A session in between has no backend; its next request waits.

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/cancellation_signal.hpp>

#include "protocol/message_scanner.h"
#include "proxy/async_turn.h"
#include "proxy/asio.h"
#include "proxy/backend_link.h"
#include "proxy/cancel_key_map.h"
#include "proxy/database_gate.h"
#include "proxy/held_request_discard.h"
#include "proxy/relay_buffer.h"
#include "proxy/relay_close_requests.h"
#include "proxy/relay_end.h"
#include "proxy/relay_owner.h"
#include "proxy/relay_probe.h"
#include "proxy/request_hold.h"
#include "proxy/session_keeper.h"
#include "proxy/session_record.h"
#include "proxy/transaction_tracker.h"

namespace pgvalve::proxy {

struct RelayLimits {
  // Client to server only (proxy.max_message_size). The server's messages
  // are bounded by what the protocol can represent: PostgreSQL decides how
  // large a result may be, and pgvalve streams it whatever its size.
  uint32_t max_client_message_size = 1u << 30;
  size_t buffer_size = 32 * 1024;
  // From accept to the first ReadyForQuery.
  std::chrono::steady_clock::time_point startup_deadline;
  std::chrono::milliseconds hold_timeout{60000};
};

class Relay {
 public:
  Relay(RelayOwner& owner, ByteStream& client, BackendLink& backend, SessionRecord& record,
        CancelKeyMap& cancel_keys, DatabaseGate& gate, RelayLimits limits);

  // Starts relaying. The owner is kept by the io_context's SessionKeeper
  // until OnRelayEnded has run; if the io_context is destroyed first, it is
  // dropped then and OnRelayEnded never runs.
  void Start();

  // Must be called on the session's executor. See CloseWhen.
  void RequestClose(CloseWhen when, std::string sqlstate, std::string message);
  void WithdrawClose() { close_requests_.WithdrawWaiting(); }
  void StartProbe(std::string sql, RelayProbe::Done done);

  // Gets the backend handed back, with the key it sent at its startup (the
  // relay no longer routes cancels to it). Runs on the executor.
  using BackendReleased = std::function<void(BackendLink& link, std::optional<BackendKey> key)>;
  // At the next point where the session is outside a transaction with
  // every request answered and nothing in flight either way (or now, if it
  // is there and waiting), the server pump stops and `released` gets the
  // backend. Until AttachBackend, the client's next request waits (the
  // client is still watched: one that leaves ends the session). A relay
  // that ends first keeps its backend and never calls `released`. False,
  // and nothing happens, if the relay has no backend, is ending, or was
  // already asked.
  bool ReleaseBackendWhenIdle(BackendReleased released);
  // Gives a relay that released its backend another one, idle outside a
  // transaction (past its own startup). Cancels and the record follow it;
  // a request waiting for it goes on. False if the relay has a backend.
  bool AttachBackend(BackendLink& link, std::optional<BackendKey> key);
  // Null between a release and the next attach.
  BackendLink* backend() const { return backend_; }

  // True when every byte written to the client so far completed whole
  // messages, so pgvalve may still send it an ErrorResponse.
  bool client_stream_clean() const {
    return !client_write_cut_ && server_scanner_.AtMessageBoundary();
  }
  bool server_stream_clean() const {
    return !server_write_cut_ && client_scanner_.AtMessageBoundary();
  }
  const TransactionTracker& tracker() const { return tracker_; }

 private:
  class ClientVisitor;
  class ServerVisitor;

  // What a pump does after a step: read again, end (its RelayEnd is set),
  // or wait for something in a coroutine.
  enum class ClientNext { kRead, kEnd, kFinishWrite, kViolation, kWaitForProbe, kHold, kSendReady, kWaitForBackend };
  enum class ServerNext { kRead, kEnd, kAcquireTurn, kFinishWrite };
  // kStepping: in its receive's callback, scanning and forwarding.
  // kParked: the server pump while the relay has no backend.
  enum class PumpState { kReceiving, kStepping, kInCoroutine, kParked, kStopped };
  struct Pump {
    PumpState state = PumpState::kStopped;
    // Set by the step that ends the pump. Pointers rather than values here
    // and below: an idle session keeps none.
    std::unique_ptr<RelayEnd> end;
    // The scan whose bytes are being forwarded, and how many have gone.
    std::optional<protocol::ScanResult> scan;
    size_t sent = 0;
    // What is left to send of the scan's bytes to forward.
    std::span<const std::byte> Unsent(RelayBuffer& buffer) const {
      return buffer.filled().subspan(sent, scan->forward - sent);
    }
    // Ends the pump's coroutine when the relay stops. One per coroutine,
    // shared with its completion handler: a coroutine that started a
    // receive may still be finishing when the next one starts.
    std::shared_ptr<asio::cancellation_signal> cancel;
  };

  void ArmClientReceive();
  static void OnClientReceived(void* self, error_code error, size_t read);
  // Scans and forwards what the client buffer holds, as far as it can
  // without waiting.
  ClientNext ClientStep();
  ClientNext EndClient(RelayEnd end);
  Awaitable<void> ContinueClient(ClientNext next);

  void ArmServerReceive();
  static void OnServerReceived(void* self, error_code error, size_t read);
  ServerNext ServerStep();
  ServerNext EndServer(RelayEnd end);
  Awaitable<void> ContinueServer(ServerNext next);

  // Runs `work` for `pump` in a coroutine; the pump stops if it ends
  // without having started a receive again.
  void StartCoroutine(Pump& pump, Awaitable<void> work);
  void DriveClient(ClientNext next);
  void DriveServer(ServerNext next);
  // The pump ended the relay (its `end` is set), or stopped as asked.
  void OnPumpEnded(Pump& pump);
  void OnPumpStopped(Pump& pump);
  // An exception in a pump's step (memory exhausted, say) ends the relay
  // as an unexpected error, not the worker thread.
  void OnStepFailed(Pump& pump);
  // Ends the relay, the first call deciding why: stops both pumps and the
  // probe's sender, then the supervisor hands over to the owner.
  void Finish(RelayEnd end, std::exception_ptr failure = nullptr);
  void StopPump(Pump& pump, ByteStream& stream);
  // Nothing of the relay runs any more: no receive, no coroutine (nor its
  // completion handler) left.
  bool Stopped() const {
    return client_pump_.state == PumpState::kStopped &&
           (server_pump_.state == PumpState::kStopped || server_pump_.state == PumpState::kParked) &&
           coroutines_ == 0;
  }
  // Where ReleaseBackendWhenIdle lets go: every request answered outside a
  // transaction, nothing half-relayed either way, no probe or discard.
  bool BackendReleasable() const;
  void ReleaseBackend();

  void ArmStartupTimer();
  // The owner has been told the relay ended (its RelayEnd went with it).
  bool handed_over() const { return stopping_ && end_ == nullptr; }
  // Close requests, the probe, the startup deadline, and the end: run when
  // the startup timer fires or the supervisor is woken.
  void Supervise();
  void WakeSupervisor();

  // How the relay ends when the client broke framing (`error`).
  Awaitable<RelayEnd> EndForClientViolation(const absl::Status& error);
  Awaitable<RequestHold::Outcome> HoldUntilResumed();
  // Writes pgvalve's own bytes to the client between relayed messages.
  Awaitable<bool> InjectToClient(std::span<const std::byte> bytes);
  Awaitable<bool> StartDiscardingHeldRequest();
  void StartSendingProbe();
  Awaitable<void> SendProbe();
  // Waits (bounded) until the probe's ReadyForQuery arrived.
  Awaitable<bool> WaitForProbe();
  // Waits until the server has answered every complete request forwarded.
  Awaitable<void> WaitForAnswers();
  // Waits, watching the client, until AttachBackend; false if the client
  // left or the relay is ending.
  Awaitable<bool> WaitForBackend();
  void EndWaitForBackend();

  absl::Status OnBackendKeyData(std::span<std::byte> body);
  absl::Status OnReadyForQuery(std::span<const std::byte> body);
  absl::Status OnParameterStatus(std::span<const std::byte> body);
  // Read only once the database was switched to another upstream: a
  // read-only refusal (25006) from this one means it is a former primary,
  // and the session is closed at its boundary rather than left failing.
  absl::Status OnErrorResponse(std::span<const std::byte> body);
  absl::Status OnNotificationResponse(std::span<std::byte> body);
  void PublishState() { record_.SetState(tracker_.State()); }

  RelayOwner& owner_;
  ByteStream& client_;
  // Null between ReleaseBackend and AttachBackend.
  BackendLink* backend_;
  SessionRecord& record_;
  CancelKeyMap& cancel_keys_;
  DatabaseGate& gate_;
  RelayLimits limits_;

  RelayBuffer client_buffer_;
  RelayBuffer server_buffer_;
  protocol::MessageScanner client_scanner_;
  protocol::MessageScanner server_scanner_;
  TransactionTracker tracker_;
  std::optional<HeldRequestDiscard> discard_;
  RelayProbe probe_;
  // Cancelled by the server pump when the last awaited answer arrived.
  std::unique_ptr<asio::steady_timer> answers_done_;

  // Set when the server sent an ErrorResponse or NoticeResponse: its next
  // read must not wait for an edge (reactor_receive.h).
  bool server_may_close_ = false;
  // Set while a write is outstanding; left set if it was cut short.
  bool client_write_cut_ = false;
  bool server_write_cut_ = false;
  AsyncTurn client_writer_;
  // Held by the server pump from the first byte of a message to its last,
  // so nothing pgvalve injects can land inside a relayed message.
  bool server_has_turn_ = false;
  // The client's violation, for EndForClientViolation.
  absl::Status client_violation_;
  // Pointers: set only while a release is asked for, and while a request
  // waits for a backend.
  std::unique_ptr<BackendReleased> release_;
  std::shared_ptr<RequestHold> backend_wait_;

  Pump client_pump_;
  Pump server_pump_;
  // Coroutines started by the pumps and the probe's sender whose
  // completion handler has not run yet.
  int coroutines_ = 0;

  RelayCloseRequests close_requests_;
  // Until the first ReadyForQuery: the startup deadline.
  std::unique_ptr<asio::steady_timer> startup_timer_;
  bool startup_timer_pending_ = false;
  bool supervisor_posted_ = false;
  bool supervising_ = false;
  // A wake-up that came while the supervisor was running.
  bool supervisor_rewake_ = false;

  // Set by the first Finish.
  bool stopping_ = false;
  std::unique_ptr<RelayEnd> end_;
  std::exception_ptr failure_;
  // The owner, kept while the relay runs (see Start).
  SessionKeeper::Hold kept_;
};

}  // namespace pgvalve::proxy
