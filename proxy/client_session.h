#pragma once
// One client connection from accept to close: the startup packet, routing,
// the upstream connection, the relay, and an orderly end. It runs as one
// coroutine on one worker's io_context, so none of its state needs locks.

#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>

#include "proxy/asio.h"
#include "proxy/byte_stream.h"
#include "proxy/client_address.h"
#include "proxy/connection_security.h"
#include "proxy/database_gate.h"
#include "proxy/proxy_context.h"
#include "proxy/session_record.h"
#include "proxy/startup_limiter.h"

namespace pgvalve::proxy {

class Relay;
class SessionScope;
struct BackendLink;
struct RelayEnd;
struct ReceivedStartupPacket;
}  // namespace pgvalve::proxy

namespace pgvalve::protocol {
struct StartupMessage;
}  // namespace pgvalve::protocol

namespace pgvalve::proxy {

class ClientSession : public SessionControl, public std::enable_shared_from_this<ClientSession> {
 public:
  // `startup` is given back once the startup packet has been handled.
  ClientSession(ProxyContext context, ByteStream client, ClientAddress address,
                StartupTicket startup = {});

  Awaitable<void> Run();

  // SessionControl; callable from any thread.
  void Close(CloseWhen when, std::string sqlstate, std::string message) override;
  void WithdrawClose() override;
  void CloseIfStill(StateStamp stamp, std::string sqlstate, std::string message) override;
  void Probe(std::string sql, std::function<void(ProbeResult)> done) override;

 private:
  // The startup packet that opens a session, after SSL/GSS negotiation;
  // nullopt when the connection was a cancel request or has already failed.
  Awaitable<std::optional<ReceivedStartupPacket>> Negotiate(
      std::chrono::steady_clock::time_point deadline);
  Awaitable<void> HandleCancelRequest(int32_t virtual_pid, std::span<const std::byte> secret);
  // The session's steps: admission (access rules, route, slot, gate,
  // record), the backend (PAUSE hold, route, upstream connection,
  // authentication), the relay. A step that ends the session tells the
  // client and the SessionScope why; the scope cleans up.
  Awaitable<void> RunSession(const ReceivedStartupPacket& startup,
                             std::chrono::steady_clock::time_point deadline);
  Awaitable<std::unique_ptr<SessionScope>> Admit(const protocol::StartupMessage& message);
  Awaitable<std::unique_ptr<BackendLink>> ConnectBackend(SessionScope& scope, const ReceivedStartupPacket& startup,
                                                         std::chrono::steady_clock::time_point deadline);
  Awaitable<void> RelayUntilEnd(SessionScope& scope, BackendLink& backend, const protocol::StartupMessage& message,
                                std::chrono::steady_clock::time_point deadline);
  Awaitable<void> EndRelay(Relay& relay, BackendLink& backend, const RelayEnd& end);
  // Sends the startup packet and relays the authentication exchange, once
  // more over TLS when server_tls_sslmode = allow's plain attempt is
  // refused. OK when the relay is to take over; errors as
  // RelayAuthentication's.
  Awaitable<absl::Status> StartBackendSession(BackendLink& backend, const config::UpstreamConfig& upstream,
                                              SSL_CTX* tls_context, const ReceivedStartupPacket& startup,
                                              std::chrono::steady_clock::time_point deadline);
  enum class StartupHold { kResumed, kTimedOut, kCloseRequested, kClientLeft };
  // Waits while the database is paused, until RESUME, hold_timeout, a close
  // request or the client's leaving.
  Awaitable<StartupHold> WaitWhilePaused(DatabaseGate& gate);
  // Watches the client while the startup hold's timer runs; true if the
  // client left.
  Awaitable<bool> WaitForStartupHold(const bool& woken);

  ProxyContext context_;
  ByteStream client_;
  ClientAddress address_;
  // What the transport proved about the client (set by the negotiation),
  // for the access rules.
  ConnectionSecurity security_;
  StartupTicket startup_ticket_;
  asio::any_io_executor executor_;
  std::shared_ptr<const config::Config> config_;
  // Of the same reload as config_; what the client's handshake uses.
  std::shared_ptr<const tls::TlsContextSet> tls_contexts_;
  std::shared_ptr<SessionRecord> record_;
  // While the relay runs; close requests go to it.
  Relay* relay_ = nullptr;
  struct PendingClose {
    std::string sqlstate;
    std::string message;
  };
  std::optional<PendingClose> pending_close_;
  // Wakes a session held before its upstream connection was opened.
  std::shared_ptr<asio::steady_timer> startup_hold_;
};

}  // namespace pgvalve::proxy
