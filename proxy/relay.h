#pragma once
// The data path of one session: two pumps, client to server and server to
// client, each reading a chunk, letting a MessageScanner find the few
// messages pgvalve acts on, and writing the chunk on before reading again
// (backpressure by construction). A third branch watches for requests from
// outside (close) and for the startup deadline. The first branch to end
// cancels the others.
//
// The client pump is also where PAUSE takes effect: at a transaction
// boundary, with the database paused, it stops before the next request and
// waits for RESUME, or answers the request with 57P03 after hold_timeout.
// A client that leaves while held ends the session at once.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "protocol/message_scanner.h"
#include "proxy/async_turn.h"
#include "proxy/asio.h"
#include "proxy/backend_link.h"
#include "proxy/cancel_key_map.h"
#include "proxy/database_gate.h"
#include "proxy/relay_buffer.h"
#include "proxy/relay_close_requests.h"
#include "proxy/relay_end.h"
#include "proxy/relay_probe.h"
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
  // `on_startup_complete` runs once, at the server's first ReadyForQuery.
  Relay(ByteStream& client, BackendLink& backend, SessionRecord& record, CancelKeyMap& cancel_keys,
        DatabaseGate& gate, RelayLimits limits, std::function<void()> on_startup_complete);

  Awaitable<RelayEnd> Run();

  // Must be called on the session's executor. See CloseWhen.
  void RequestClose(CloseWhen when, std::string sqlstate, std::string message);
  void WithdrawClose() { close_requests_.WithdrawWaiting(); }
  void StartProbe(std::string sql, RelayProbe::Done done);

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
  struct HoldWait;

  // Discarding a held request that timed out: the rest of a Query, or an
  // extended-protocol batch through its Sync.
  struct Discard {
    bool until_sync = false;
    bool last_message_started = false;
  };

  enum class HoldOutcome { kResumed, kTimedOut, kAborted, kClientLeft };

  Awaitable<RelayEnd> PumpClientToServer();
  Awaitable<RelayEnd> PumpServerToClient();
  // How the relay ends when the client broke framing (`error`).
  Awaitable<RelayEnd> EndForClientViolation(const absl::Status& error);
  Awaitable<RelayEnd> WatchControl();
  Awaitable<HoldOutcome> HoldUntilResumed();
  // The wait inside HoldUntilResumed, watching the client meanwhile.
  Awaitable<HoldOutcome> WaitWhileHeld(HoldWait& wait);
  // Writes pgvalve's own bytes to the client between relayed messages.
  Awaitable<bool> InjectToClient(std::span<const std::byte> bytes);
  Awaitable<bool> StartDiscardingHeldRequest();
  Awaitable<void> SendProbe();
  // Hands a reply taken off the server buffer to the probe, and ends the
  // client pump's wait once the probe has its answer.
  absl::Status ConsumeProbeReply(char tag, std::span<const std::byte> body);
  // Waits (bounded) until the probe's ReadyForQuery arrived.
  Awaitable<bool> WaitForProbe();
  // Waits until the server has answered every complete request forwarded.
  Awaitable<void> WaitForAnswers();

  absl::Status OnBackendKeyData(std::span<std::byte> body);
  absl::Status OnReadyForQuery(std::span<const std::byte> body);
  absl::Status OnParameterStatus(std::span<const std::byte> body);
  // Read only once the database was switched to another upstream: a
  // read-only refusal (25006) from this one means it is a former primary,
  // and the session is closed at its boundary rather than left failing.
  absl::Status OnErrorResponse(std::span<const std::byte> body);
  absl::Status OnNotificationResponse(std::span<std::byte> body);
  void PublishState() { record_.SetState(tracker_.State()); }

  ByteStream& client_;
  BackendLink& backend_;
  SessionRecord& record_;
  CancelKeyMap& cancel_keys_;
  DatabaseGate& gate_;
  RelayLimits limits_;

  RelayBuffer client_buffer_;
  RelayBuffer server_buffer_;
  protocol::MessageScanner client_scanner_;
  protocol::MessageScanner server_scanner_;
  TransactionTracker tracker_;
  std::optional<Discard> discard_;
  RelayProbe probe_;
  asio::steady_timer probe_done_;
  // Cancelled by the server pump when the last awaited answer arrived.
  std::optional<asio::steady_timer> answers_done_;

  // Set when the server sent an ErrorResponse or NoticeResponse: its next
  // read must not wait for an edge (reactor_receive.h).
  bool server_may_close_ = false;
  // Set while a write is outstanding; left set if it was cut short.
  bool client_write_cut_ = false;
  bool server_write_cut_ = false;
  AsyncTurn client_writer_;

  RelayCloseRequests close_requests_;
  std::function<void()> on_startup_complete_;
  asio::steady_timer control_timer_;
  // Set when pgvalve itself wakes WatchControl, as opposed to the
  // cancellation that ends the relay.
  bool control_woken_ = false;
  void WakeControl() {
    control_woken_ = true;
    control_timer_.cancel();
  }
};

}  // namespace pgvalve::proxy
