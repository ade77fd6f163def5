#pragma once
// One client connection from accept to close: the startup packet, routing,
// the upstream connection, the relay, and an orderly end. Everything runs
// on one worker's io_context, so none of its state needs locks. The steps
// up to the relay are one coroutine, and the end another; the relay in
// between runs on callbacks (relay.h), so an idle session holds no
// coroutine frame.

#include <openssl/ssl.h>

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "proxy/asio.h"
#include "proxy/byte_stream.h"
#include "proxy/client_address.h"
#include "proxy/connection_security.h"
#include "proxy/database_gate.h"
#include "proxy/proxy_context.h"
#include "proxy/relay_owner.h"
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

class ClientSession : public SessionControl,
                      public RelayOwner,
                      public std::enable_shared_from_this<ClientSession> {
 public:
  // `context` outlives the session.
  ClientSession(const ProxyContext& context, ByteStream client, ClientAddress address);
  ~ClientSession() override;

  // Runs the session; the context's session_ended is called once the
  // connection is closed. `startup` is given back once the startup packet
  // has been handled.
  void Start(StartupTicket startup);

  // SessionControl; callable from any thread.
  void Close(CloseWhen when, std::string sqlstate, std::string message) override;
  void CloseAndCancelRunning(std::string sqlstate, std::string message) override;
  void WithdrawClose() override;
  void CloseIfStill(StateStamp stamp, std::string sqlstate, std::string message) override;
  void Probe(std::string sql, std::function<void(ProbeResult)> done) override;

 private:
  // The startup packet that opens a session, after SSL/GSS negotiation;
  // nullopt when the connection was a cancel request or has already failed.
  Awaitable<std::optional<ReceivedStartupPacket>> Negotiate(
      std::chrono::steady_clock::time_point deadline);
  Awaitable<void> HandleCancelRequest(int32_t virtual_pid, std::span<const std::byte> secret);
  // A cancel request for a session another fleet instance holds: sent on
  // to that instance, which checks the secret.
  Awaitable<void> RouteCancelRequest(const CancelPeer& owner, int32_t virtual_pid,
                                     std::span<const std::byte> secret);
  // The session's steps: admission (access rules, route, slot, gate,
  // record), the backend (PAUSE hold, route, upstream connection,
  // authentication), the relay. A step that ends the session tells the
  // client and the SessionScope why; the scope cleans up. True when the
  // relay has taken over.
  // Holds the startup ticket in its frame: no session keeps it longer.
  Awaitable<bool> Open(StartupTicket startup);
  Awaitable<std::unique_ptr<SessionScope>> Admit(const protocol::StartupMessage& message);
  Awaitable<std::unique_ptr<BackendLink>> ConnectBackend(SessionScope& scope, const ReceivedStartupPacket& startup,
                                                         std::chrono::steady_clock::time_point deadline);
  void StartRelay(const protocol::StartupMessage& message, std::chrono::steady_clock::time_point deadline);
  // RelayOwner.
  std::shared_ptr<void> RelayKeepalive() override { return shared_from_this(); }
  // Writes the "session open" line.
  void OnStartupComplete() override;
  // Hands the end to EndRelay, then Finish.
  void OnRelayEnded(RelayEnd end, std::exception_ptr failure) override;
  ProxyEvents& Events() override { return context_.events; }
  // After the relay: the scope's record of the end, a FATAL to the client
  // and a Terminate to the server where due.
  Awaitable<void> EndRelay(RelayEnd end, std::exception_ptr failure);
  // pgvalve's own FATAL to the client (SendFatal), its SQLSTATE counted
  // for /metrics. Not a coroutine: the views need only live as long as the
  // caller's co_await, as SendFatal's.
  Awaitable<void> SendOwnFatal(std::string_view sqlstate, std::string_view message, std::string_view detail = {},
                               std::string_view hint = {});
  // For CloseAndCancelRunning: a CancelRequest to the backend, bounded.
  Awaitable<void> CancelRunningStatement();
  void Finish(std::exception_ptr failure);
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

  const ProxyContext& context_;
  ByteStream client_;
  IoContextExecutor executor_;
  std::shared_ptr<SessionRecord> record_;
  // Set by the steps as they succeed; reset when the session is closed.
  std::unique_ptr<SessionScope> scope_;
  std::unique_ptr<BackendLink> backend_;
  std::unique_ptr<Relay> relay_;
  // While the relay runs; close requests go to it.
  bool relay_running_ = false;
  // Set by CloseAndCancelRunning: EndRelay cancels a running statement.
  bool cancel_running_at_end_ = false;

  struct PendingClose {
    std::string sqlstate;
    std::string message;
  };
  // What only the steps up to the relay's first ReadyForQuery use. Dropped
  // then, so an idle session keeps none of it.
  struct Startup {
    ClientAddress address;
    // What the transport proved about the client (set by the
    // negotiation), for the access rules.
    ConnectionSecurity security;
    std::shared_ptr<const config::Config> config;
    // Of the same reload as `config`; what the client's handshake uses.
    std::shared_ptr<const tls::TlsContextSet> tls_contexts;
    // A close asked for before the relay runs, which the steps act on.
    std::optional<PendingClose> pending_close;
    // Wakes a session held before its upstream connection was opened.
    std::shared_ptr<asio::steady_timer> hold;
    // As the client sent it, for the "session open" line.
    std::string application_name;
  };
  std::unique_ptr<Startup> startup_;
};

}  // namespace pgvalve::proxy
