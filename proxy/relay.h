#pragma once
// The data path of one session: two pumps, client to server and server to
// client, each reading a chunk, letting a MessageScanner find the few
// messages pgvalve acts on, and writing the chunk on before reading again
// (backpressure by construction). A third branch watches for requests from
// outside (close) and for the startup deadline. The first branch to end
// cancels the others.

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "protocol/message_scanner.h"
#include "proxy/asio.h"
#include "proxy/backend_link.h"
#include "proxy/cancel_key_map.h"
#include "proxy/relay_buffer.h"
#include "proxy/session_record.h"
#include "proxy/transaction_tracker.h"

namespace pgvalve::proxy {

struct RelayLimits {
  uint32_t max_message_size = 1u << 30;
  size_t buffer_size = 32 * 1024;
  // From accept to the first ReadyForQuery.
  std::chrono::steady_clock::time_point startup_deadline;
};

enum class RelayEndReason {
  kClientDisconnected,   // EOF or reset without a Terminate
  kClientTerminated,     // the client sent Terminate, which was forwarded
  kServerDisconnected,   // the server closed; everything it sent was forwarded
  kClientProtocolError,  // the client broke framing
  kServerProtocolError,  // the server broke framing or sent a bad key/status
  kCloseRequested,       // an operator or shutdown asked for it
  kStartupTimeout,
};

struct RelayEnd {
  RelayEndReason reason;
  std::string detail;     // for logs and for the client's error message
  std::string sqlstate;   // set for errors the client should be told
};

class Relay {
 public:
  // `on_startup_complete` runs once, at the server's first ReadyForQuery.
  Relay(ByteStream& client, BackendLink& backend, SessionRecord& record, CancelKeyMap& cancel_keys,
        RelayLimits limits, std::function<void()> on_startup_complete);

  Awaitable<RelayEnd> Run();

  // Must be called on the session's executor.
  void RequestClose(std::string sqlstate, std::string message);

  // True when every byte forwarded to the client so far completed whole
  // messages, so pgvalve may still send it an ErrorResponse.
  bool client_stream_clean() const {
    return !client_write_interrupted_ && server_scanner_.AtMessageBoundary();
  }
  bool server_stream_clean() const {
    return !server_write_interrupted_ && client_scanner_.AtMessageBoundary();
  }
  const TransactionTracker& tracker() const { return tracker_; }

 private:
  class ClientVisitor;
  class ServerVisitor;

  Awaitable<RelayEnd> PumpClientToServer();
  Awaitable<RelayEnd> PumpServerToClient();
  Awaitable<RelayEnd> WatchControl();

  absl::Status OnBackendKeyData(std::span<std::byte> body);
  absl::Status OnReadyForQuery(std::span<const std::byte> body);
  absl::Status OnParameterStatus(std::span<const std::byte> body);
  void PublishState() { record_.SetState(tracker_.State()); }

  ByteStream& client_;
  BackendLink& backend_;
  SessionRecord& record_;
  CancelKeyMap& cancel_keys_;
  RelayLimits limits_;

  RelayBuffer client_buffer_;
  RelayBuffer server_buffer_;
  protocol::MessageScanner client_scanner_;
  protocol::MessageScanner server_scanner_;
  TransactionTracker tracker_;

  // Set while a write is outstanding; left set if it was cut short.
  bool client_write_interrupted_ = false;
  bool server_write_interrupted_ = false;

  std::function<void()> on_startup_complete_;
  asio::steady_timer control_timer_;
  std::optional<RelayEnd> close_request_;
};

}  // namespace pgvalve::proxy
