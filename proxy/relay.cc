#include "proxy/relay.h"

#include "fmt/format.h"
#include "protocol/backend_messages.h"
#include "protocol/message_reader.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/status_text.h"

namespace pgvalve::proxy {

using namespace asio::experimental::awaitable_operators;
using protocol::BackendTag;
using protocol::FrontendTag;
using protocol::MessageAction;

// Client to server: nothing needs to be seen whole; the tags alone drive
// the transaction tracker.
class Relay::ClientVisitor {
 public:
  explicit ClientVisitor(Relay& relay) : relay_(relay) {}

  MessageAction OnMessageStart(char tag, uint32_t /*length*/) {
    relay_.tracker_.OnClientMessage(static_cast<FrontendTag>(tag));
    return MessageAction::kStream;
  }
  absl::Status OnMessage(char /*tag*/, std::span<std::byte> /*body*/) { return absl::OkStatus(); }

 private:
  Relay& relay_;
};

// Server to client: BackendKeyData is replaced, ReadyForQuery and
// ParameterStatus are read; everything else streams through.
class Relay::ServerVisitor {
 public:
  explicit ServerVisitor(Relay& relay) : relay_(relay) {}

  MessageAction OnMessageStart(char tag, uint32_t length) {
    switch (static_cast<BackendTag>(tag)) {
      case BackendTag::kBackendKeyData:
      case BackendTag::kReadyForQuery:
        return MessageAction::kInspect;
      case BackendTag::kParameterStatus:
        // A value too long for the buffer is passed on unread; pgvalve only
        // displays parameters, it never depends on them.
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
      default: return absl::OkStatus();
    }
  }

 private:
  Relay& relay_;
};

Relay::Relay(ByteStream& client, BackendLink& backend, SessionRecord& record,
             CancelKeyMap& cancel_keys, RelayLimits limits,
             std::function<void()> on_startup_complete)
    : client_(client),
      backend_(backend),
      record_(record),
      cancel_keys_(cancel_keys),
      limits_(limits),
      client_buffer_(limits.buffer_size),
      server_buffer_(limits.buffer_size),
      client_scanner_(limits.max_message_size),
      server_scanner_(limits.max_message_size),
      on_startup_complete_(std::move(on_startup_complete)),
      control_timer_(client.executor(), limits.startup_deadline) {}

Awaitable<RelayEnd> Relay::Run() {
  auto ended = co_await (PumpClientToServer() || PumpServerToClient() || WatchControl());
  co_return std::visit([](RelayEnd& end) { return std::move(end); }, ended);
}

void Relay::RequestClose(std::string sqlstate, std::string message) {
  if (close_request_) return;
  close_request_ = RelayEnd{RelayEndReason::kCloseRequested, std::move(message), std::move(sqlstate)};
  control_timer_.cancel();
}

Awaitable<RelayEnd> Relay::PumpClientToServer() {
  ClientVisitor visitor(*this);
  while (true) {
    std::span<std::byte> space = client_buffer_.free_space();
    auto [read_error, read] = co_await client_.ReadSome(space);
    if (read_error) co_return RelayEnd{RelayEndReason::kClientDisconnected, read_error.message(), {}};
    client_buffer_.Commit(read);
    record_.AddBytesFromClient(read);

    auto scanned = client_scanner_.Scan(client_buffer_.filled(), client_buffer_.capacity(), visitor);
    if (!scanned.ok()) {
      co_return RelayEnd{RelayEndReason::kClientProtocolError,
                         std::string(StatusText(scanned.status())),
                         protocol::SqlStateOf(scanned.status())};
    }
    PublishState();
    if (scanned->forward > 0) {
      server_write_interrupted_ = true;
      auto [write_error, written] =
          co_await backend_.stream.WriteAll(client_buffer_.filled().first(scanned->forward));
      if (write_error) {
        co_return RelayEnd{RelayEndReason::kServerDisconnected, write_error.message(), {}};
      }
      server_write_interrupted_ = false;
      client_buffer_.Consume(scanned->forward);
    }
    if (tracker_.client_terminated() && client_scanner_.AtMessageBoundary()) {
      co_return RelayEnd{RelayEndReason::kClientTerminated, "client sent Terminate", {}};
    }
  }
}

Awaitable<RelayEnd> Relay::PumpServerToClient() {
  ServerVisitor visitor(*this);
  while (true) {
    auto [read_error, read] = co_await backend_.stream.ReadSome(server_buffer_.free_space());
    if (read_error) {
      co_return RelayEnd{RelayEndReason::kServerDisconnected,
                         read_error == asio::error::eof ? "server closed the connection"
                                                        : read_error.message(),
                         {}};
    }
    server_buffer_.Commit(read);

    auto scanned = server_scanner_.Scan(server_buffer_.filled(), server_buffer_.capacity(), visitor);
    if (!scanned.ok()) {
      co_return RelayEnd{RelayEndReason::kServerProtocolError,
                         std::string(StatusText(scanned.status())),
                         std::string(protocol::sqlstate::kProtocolViolation)};
    }
    if (scanned->forward > 0) {
      client_write_interrupted_ = true;
      auto [write_error, written] =
          co_await client_.WriteAll(server_buffer_.filled().first(scanned->forward));
      if (write_error) {
        co_return RelayEnd{RelayEndReason::kClientDisconnected, write_error.message(), {}};
      }
      client_write_interrupted_ = false;
      record_.AddBytesToClient(scanned->forward);
      server_buffer_.Consume(scanned->forward);
    }
  }
}

Awaitable<RelayEnd> Relay::WatchControl() {
  while (true) {
    co_await control_timer_.async_wait(kUseTuple);
    if (close_request_) co_return *std::move(close_request_);
    if (tracker_.ready_seen()) {
      control_timer_.expires_at(std::chrono::steady_clock::time_point::max());
    } else if (std::chrono::steady_clock::now() >= limits_.startup_deadline) {
      co_return RelayEnd{RelayEndReason::kStartupTimeout,
                         "startup and authentication did not complete in time",
                         std::string(protocol::sqlstate::kConnectionFailure)};
    }
  }
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

  // Same length as the server's key, so the rewrite happens in place.
  protocol::StoreBigEndian32(body.data(), static_cast<uint32_t>(minted.pid));
  std::copy(minted.secret.begin(), minted.secret.end(), body.begin() + 4);
  return absl::OkStatus();
}

absl::Status Relay::OnReadyForQuery(std::span<const std::byte> body) {
  absl::StatusOr<protocol::TransactionStatus> status = protocol::ParseReadyForQuery(body);
  if (!status.ok()) return status.status();
  bool first = !tracker_.ready_seen();
  tracker_.OnReadyForQuery(*status);
  PublishState();
  if (first) {
    // Wakes the watcher so the startup deadline stops applying.
    control_timer_.cancel();
    if (on_startup_complete_) on_startup_complete_();
  }
  return absl::OkStatus();
}

absl::Status Relay::OnParameterStatus(std::span<const std::byte> body) {
  absl::StatusOr<protocol::ParameterStatus> parameter = protocol::ParseParameterStatus(body);
  if (!parameter.ok()) return parameter.status();
  if (parameter->name == "application_name") record_.SetApplicationName(parameter->value);
  auto found = backend_.parameters.find(parameter->name);
  if (found == backend_.parameters.end()) {
    backend_.parameters.emplace(std::string(parameter->name), std::string(parameter->value));
  } else {
    found->second.assign(parameter->value);
  }
  return absl::OkStatus();
}

}  // namespace pgvalve::proxy
