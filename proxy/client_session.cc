#include "proxy/client_session.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "fmt/chrono.h"
#include "fmt/format.h"
#include "protocol/message_writer.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "protocol/startup_packet.h"
#include "proxy/backend_link.h"
#include "proxy/authentication_relay.h"
#include "proxy/cancel_forwarder.h"
#include "proxy/client_negotiation.h"
#include "proxy/current_route.h"
#include "proxy/deadline.h"
#include "proxy/error_reply.h"
#include "proxy/held_client_watch.h"
#include "proxy/log_text.h"
#include "proxy/relay.h"
#include "proxy/session_scope.h"
#include "proxy/startup_reader.h"
#include "proxy/status_text.h"
#include "proxy/upstream_connector.h"
#include "tls/tls_connection.h"

namespace pgvalve::proxy {
namespace sqlstate = protocol::sqlstate;
using std::chrono::steady_clock;

namespace {

constexpr std::chrono::milliseconds kCancelForwardTimeout{5000};
constexpr std::chrono::seconds kTerminateWriteTimeout{1};
// A fast shutdown's cancel: its grace for every session is 5 s.
constexpr std::chrono::milliseconds kCancelAtCloseTimeout{2000};

std::string_view EndText(RelayEndReason reason) {
  switch (reason) {
    case RelayEndReason::kClientDisconnected: return "client disconnected";
    case RelayEndReason::kClientTerminated: return "client terminated";
    case RelayEndReason::kServerDisconnected: return "server closed the connection";
    case RelayEndReason::kClientProtocolError: return "client protocol violation";
    case RelayEndReason::kServerProtocolError: return "server protocol violation";
    case RelayEndReason::kCloseRequested: return "closed by pgvalve";
    case RelayEndReason::kStartupTimeout: return "startup timeout";
  }
  return "ended";
}

SessionEnd SessionEndOf(RelayEndReason reason, bool had_backend) {
  switch (reason) {
    case RelayEndReason::kClientDisconnected:
    case RelayEndReason::kClientTerminated: return SessionEnd::kClientClosed;
    case RelayEndReason::kServerDisconnected:
      return had_backend ? SessionEnd::kServerClosed : SessionEnd::kStartupFailed;
    case RelayEndReason::kClientProtocolError:
    case RelayEndReason::kServerProtocolError: return SessionEnd::kProtocolViolation;
    case RelayEndReason::kCloseRequested: return SessionEnd::kClosedByPgvalve;
    case RelayEndReason::kStartupTimeout: return SessionEnd::kStartupFailed;
  }
  return SessionEnd::kServerClosed;
}

// How a session ends when the authentication exchange failed: quietly when
// a side went away, with a FATAL to the client otherwise.
RelayEnd AuthenticationEnd(const absl::Status& failure) {
  if (failure.code() == absl::StatusCode::kUnavailable) {
    return RelayEnd{RelayEndReason::kServerDisconnected, std::string(StatusText(failure)), {}};
  }
  const std::string sqlstate = protocol::SqlStateOf(failure);
  return RelayEnd{sqlstate == sqlstate::kConnectionFailure ? RelayEndReason::kStartupTimeout
                                                           : RelayEndReason::kClientProtocolError,
                  std::string(StatusText(failure)), sqlstate};
}

// A Terminate lets the backend end its session at once instead of
// noticing the closed socket; sent only between messages.
Awaitable<void> SendTerminate(ByteStream& server) {
  protocol::MessageWriter terminate;
  terminate.Begin(protocol::FrontendTag::kTerminate).End();
  co_await WithTimeout(server.WriteAll(terminate.bytes()), kTerminateWriteTimeout);
}

}  // namespace

ClientSession::ClientSession(const ProxyContext& context, ByteStream client, ClientAddress address)
    : context_(context), client_(std::move(client)), executor_(client_.executor()) {
  ConfigHolder::Snapshot snapshot = context.config.Both();
  startup_ = std::make_unique<Startup>(Startup{.address = std::move(address),
                                               .config = std::move(snapshot.config),
                                               .tls_contexts = std::move(snapshot.tls)});
}

ClientSession::~ClientSession() = default;

void ClientSession::Close(CloseWhen when, std::string sqlstate, std::string message) {
  asio::post(executor_, [weak = weak_from_this(), when, sqlstate = std::move(sqlstate),
                         message = std::move(message)]() mutable {
    auto self = std::static_pointer_cast<ClientSession>(weak.lock());
    if (!self) return;
    if (self->relay_running_) {
      self->relay_->RequestClose(when, std::move(sqlstate), std::move(message));
    } else {
      // Not relaying yet: nothing can be cut short, so every kind of close
      // takes effect before the session goes further. The first one says
      // why; the session may already be telling the client.
      Startup* startup = self->startup_.get();
      if (startup == nullptr) return;  // the relay has ended
      if (!startup->pending_close) startup->pending_close = PendingClose{std::move(sqlstate), std::move(message)};
      if (startup->hold) startup->hold->cancel();
    }
  });
}

void ClientSession::CloseAndCancelRunning(std::string sqlstate, std::string message) {
  asio::post(executor_, [weak = weak_from_this(), sqlstate = std::move(sqlstate),
                         message = std::move(message)]() mutable {
    auto self = std::static_pointer_cast<ClientSession>(weak.lock());
    if (!self) return;
    // Before it relays, a session has no statement running.
    if (self->relay_running_) self->cancel_running_at_end_ = true;
    self->Close(CloseWhen::kNow, std::move(sqlstate), std::move(message));
  });
}

void ClientSession::WithdrawClose() {
  asio::post(executor_, [weak = weak_from_this()] {
    auto self = std::static_pointer_cast<ClientSession>(weak.lock());
    if (self && self->relay_running_) self->relay_->WithdrawClose();
  });
}

void ClientSession::CloseIfStill(StateStamp stamp, std::string sqlstate, std::string message) {
  asio::post(executor_, [weak = weak_from_this(), stamp, sqlstate = std::move(sqlstate),
                         message = std::move(message)]() mutable {
    auto self = std::static_pointer_cast<ClientSession>(weak.lock());
    // The relay publishes every state change on this executor, so the
    // record is current here.
    if (!self || !self->relay_running_ || !self->record_ ||
        self->record_->state_stamp() != stamp) {
      return;
    }
    self->relay_->RequestClose(CloseWhen::kNow, std::move(sqlstate), std::move(message));
  });
}

void ClientSession::Probe(std::string sql, std::function<void(ProbeResult)> done) {
  asio::post(executor_, [weak = weak_from_this(), sql = std::move(sql), done = std::move(done)]() mutable {
    auto self = std::static_pointer_cast<ClientSession>(weak.lock());
    if (!self || !self->relay_running_) {
      done(UnavailableError("session is not relaying"));
      return;
    }
    self->relay_->StartProbe(std::move(sql), std::move(done));
  });
}

void ClientSession::Start(StartupTicket startup) {
  asio::co_spawn(executor_, Open(std::move(startup)),
                 [self = shared_from_this()](std::exception_ptr failure, bool relaying) {
                   if (failure || !relaying) self->Finish(failure);
                 });
}

void ClientSession::Finish(std::exception_ptr failure) {
  relay_running_ = false;
  relay_.reset();
  if (backend_) backend_->stream.Close();
  backend_.reset();
  // Gives back the slot, the gate and the registry entry, and writes the
  // closing log line.
  scope_.reset();
  client_.Close();
  context_.session_ended(failure);
}

Awaitable<std::optional<ReceivedStartupPacket>> ClientSession::Negotiate(
    steady_clock::time_point deadline) {
  // No TLS over a unix socket, as PostgreSQL: its peer is on this host.
  const ClientTlsPolicy policy =
      startup_->address.is_unix()
          ? ClientTlsPolicy{}
          : ClientTlsPolicy{startup_->tls_contexts->proxy(), startup_->config->proxy.tls.mode};
  std::optional<ReceivedStartupPacket> packet =
      co_await NegotiateStartup(client_, policy, deadline, startup_->address.ToString(), startup_->security,
                                &context_.events);
  if (!packet) co_return std::nullopt;
  if (const auto* cancel = std::get_if<protocol::CancelRequest>(&packet->parsed)) {
    co_await HandleCancelRequest(cancel->pid, cancel->secret);
    co_return std::nullopt;
  }
  co_return packet;
}

Awaitable<void> ClientSession::HandleCancelRequest(int32_t virtual_pid,
                                                   std::span<const std::byte> secret) {
  std::optional<CancelTarget> target = context_.cancel_keys.Find(virtual_pid, secret);
  if (!target) {
    if (std::optional<CancelPeer> owner = context_.cancel_routes.OwnerOf(virtual_pid)) {
      co_await RouteCancelRequest(*owner, virtual_pid, secret);
      co_return;
    }
    // Dropped without an answer, as PostgreSQL does, so a prober learns
    // nothing about which pids exist. Rate-limited: a flood of them must
    // not become a flood of log lines.
    context_.events.CancelRequest(/*matched=*/false);
    LogRateLimiter::Decision log = context_.bogus_cancel_log.Admit();
    if (log.summary) spdlog::warn("{}", *log.summary);
    if (log.log) {
      spdlog::warn("cancel request from {} for pid {} ignored: unknown pid or wrong secret",
                   startup_->address.ToString(), virtual_pid);
    }
    co_return;
  }
  context_.events.CancelRequest(/*matched=*/true);
  absl::Status forwarded = co_await ForwardCancelRequest(*target->backend, kCancelForwardTimeout);
  if (forwarded.ok()) {
    spdlog::info("session {}: cancel request from {} forwarded to backend pid {} on {}",
                 target->session_id, startup_->address.ToString(), target->backend->pid,
                 target->backend->upstream_name);
  } else {
    spdlog::warn("session {}: cancel request from {} failed: {}", target->session_id,
                 startup_->address.ToString(), EscapeForLog(StatusText(forwarded)));
  }
}

Awaitable<void> ClientSession::RouteCancelRequest(const CancelPeer& owner, int32_t virtual_pid,
                                                  std::span<const std::byte> secret) {
  context_.events.CancelRouted();
  absl::Status routed = co_await ForwardCancelToInstance(owner, virtual_pid, secret, kCancelForwardTimeout);
  // The owner logs what came of it (a cancel, or a rate-limited line for a
  // wrong key); a line here for each would let a flood of bogus keys flood
  // this log.
  if (routed.ok()) {
    spdlog::debug("cancel request from {} for pid {} sent on to instance {} ({}:{})", startup_->address.ToString(),
                  virtual_pid, QuoteForLog(owner.instance_id), owner.host, owner.port);
  } else {
    spdlog::warn("cancel request from {} for pid {} could not be sent on to instance {}: {}",
                 startup_->address.ToString(), virtual_pid, QuoteForLog(owner.instance_id),
                 EscapeForLog(StatusText(routed)));
  }
}

Awaitable<bool> ClientSession::Open(StartupTicket startup_ticket) {
  const auto deadline = steady_clock::now() + startup_->config->proxy.startup_timeout;
  std::optional<ReceivedStartupPacket> startup = co_await Negotiate(deadline);
  startup_ticket.Release();
  if (!startup) co_return false;
  // Each step is a coroutine of its own, so that what one needs (the
  // refusal messages, the upstream connection attempt) is gone before the
  // next runs; this one ends once the relay has started.
  const auto& message = std::get<protocol::StartupMessage>(startup->parsed);
  scope_ = co_await Admit(message);
  if (!scope_) co_return false;
  backend_ = co_await ConnectBackend(*scope_, *startup, deadline);
  if (!backend_) co_return false;
  StartRelay(message, deadline);
  co_return true;
}

Awaitable<std::unique_ptr<SessionScope>> ClientSession::Admit(const protocol::StartupMessage& message) {
  const std::string database(message.database());
  if (std::optional<std::string> held = context_.admission.reason()) {
    context_.events.Refused(Refusal::kStartingUp);
    co_await SendOwnFatal(sqlstate::kCannotConnectNow, "pgvalve is starting up", *held,
                          "Retry in a moment.");
    co_return nullptr;
  }
  // Before the route lookup: a refused client must not learn from a 3D000
  // which databases pgvalve serves.
  if (std::optional<std::string> refusal = context_.access.Refusal(
          AccessListener::kProxy, startup_->address, startup_->security, database, message.user())) {
    context_.events.Refused(Refusal::kAccessRule);
    co_await SendOwnFatal(sqlstate::kInvalidAuthorizationSpecification, *refusal);
    co_return nullptr;
  }
  const config::UpstreamConfig* upstream = startup_->config->UpstreamFor(database);
  if (upstream == nullptr) {
    spdlog::warn("client {}: no route for database {}", startup_->address.ToString(), QuoteForLog(database));
    context_.events.Refused(Refusal::kNoRoute);
    co_await SendOwnFatal(sqlstate::kInvalidCatalogName,
                       fmt::format("pgvalve has no route for database \"{}\"", database), {},
                       fmt::format("Add [databases.\"{}\"] or [databases.\"*\"] to {}.", database,
                                   startup_->config->source));
    co_return nullptr;
  }
  if (!context_.sessions.TryReserveSlot(startup_->config->proxy.max_client_connections)) {
    spdlog::warn("client {}: refused, max_client_connections ({}) reached", startup_->address.ToString(),
                 startup_->config->proxy.max_client_connections);
    context_.events.Refused(Refusal::kTooManyClients);
    co_await SendOwnFatal(sqlstate::kTooManyConnections, "sorry, too many clients already",
                       fmt::format("pgvalve accepts at most {} client connections "
                                   "(max_client_connections).",
                                   startup_->config->proxy.max_client_connections));
    co_return nullptr;
  }
  auto scope = std::make_unique<SessionScope>(context_.sessions, context_.databases, context_.cancel_keys,
                                              context_.databases.Gate(database));
  // Refused before any upstream connection is opened, with what PostgreSQL
  // says when a database does not allow connections.
  if (std::optional<std::string> refusal = scope->gate().RefusalFor(message.user())) {
    spdlog::info("client {}: refused, database {} is disabled", startup_->address.ToString(),
                 QuoteForLog(database));
    context_.events.Refused(Refusal::kDisabled);
    co_await SendOwnFatal(sqlstate::kObjectNotInPrerequisiteState,
                       fmt::format("database \"{}\" is not currently accepting connections", database),
                       *refusal);
    co_return nullptr;
  }

  // Where the session would go now; a hold may change it.
  absl::StatusOr<const config::UpstreamConfig*> route = CurrentRoute(*startup_->config, scope->gate());
  record_ = std::make_shared<SessionRecord>(
      SessionIdentity{.id = context_.sessions.NextSessionId(),
                      .client_address = startup_->address.address,
                      .client_port = startup_->address.port,
                      .database = database,
                      .user = std::string(message.user()),
                      .connected_at = WallClock::now(),
                      .tls = client_.tls() != nullptr ? client_.tls()->Description() : std::string()},
      std::string(message.application_name()),
      route.ok() && *route != nullptr ? (*route)->name : upstream->name);
  record_->AttachControl(weak_from_this());
  scope->Register(record_);
  co_return scope;
}

Awaitable<std::unique_ptr<BackendLink>> ClientSession::ConnectBackend(SessionScope& scope,
                                                                     const ReceivedStartupPacket& startup,
                                                                     steady_clock::time_point deadline) {
  DatabaseGate& gate = scope.gate();
  if (gate.paused()) {
    switch (co_await WaitWhilePaused(gate)) {
      case StartupHold::kResumed:
        break;
      case StartupHold::kClientLeft:
        scope.End(SessionEnd::kClientClosed, "client disconnected",
                  fmt::format("left while held by PAUSE of \"{}\"", gate.name()));
        co_return nullptr;
      case StartupHold::kCloseRequested:
        co_await SendOwnFatal(startup_->pending_close->sqlstate, startup_->pending_close->message);
        scope.End(SessionEnd::kClosedByPgvalve, "closed by pgvalve", startup_->pending_close->message);
        co_return nullptr;
      case StartupHold::kTimedOut:
        context_.events.Refused(Refusal::kPausedTimeout);
        co_await SendOwnFatal(
            sqlstate::kCannotConnectNow,
            fmt::format("database \"{}\" has been paused for longer than hold_timeout ({} ms)", gate.name(),
                        startup_->config->proxy.hold_timeout.count()),
            {}, "Retry once the operator has resumed the database.");
        scope.End(SessionEnd::kStartupFailed, "startup failed", "held by PAUSE for longer than hold_timeout");
        co_return nullptr;
    }
  }

  // Resolved after the hold, with the configuration in effect now: a
  // CUTOVER switches the database while its new sessions wait, and they
  // must land on the new server.
  const ConfigHolder::Snapshot routing = context_.config.Both();
  absl::StatusOr<const config::UpstreamConfig*> route = CurrentRoute(*routing.config, gate);
  if (route.ok() && *route == nullptr) {
    route = protocol::ErrorWithSqlState(
        sqlstate::kConnectionFailure,
        fmt::format("pgvalve no longer has a route for database \"{}\"", gate.name()));
  }
  if (!route.ok()) {
    spdlog::error("session {}: {}", scope.id(), EscapeForLog(StatusText(route.status())));
    context_.events.Refused(Refusal::kUpstreamUnreachable);
    co_await SendOwnFatal(sqlstate::kConnectionFailure, StatusText(route.status()));
    scope.End(SessionEnd::kStartupFailed, "startup failed", std::string(StatusText(route.status())));
    co_return nullptr;
  }
  const config::UpstreamConfig& upstream = **route;
  record_->SetUpstream(upstream.name);

  const auto connect_start = std::chrono::steady_clock::now();
  absl::StatusOr<UpstreamConnection> connection =
      co_await ConnectUpstream(upstream, routing.tls->upstream(upstream.name));
  if (!connection.ok()) {
    spdlog::error("session {}: {}", scope.id(), EscapeForLog(StatusText(connection.status())));
    context_.events.UpstreamConnectFailed(upstream.name);
    context_.events.Refused(Refusal::kUpstreamUnreachable);
    co_await SendOwnFatal(sqlstate::kConnectionFailure, StatusText(connection.status()));
    scope.End(SessionEnd::kStartupFailed, "startup failed", std::string(StatusText(connection.status())));
    co_return nullptr;
  }
  context_.events.UpstreamConnected(upstream.name, std::chrono::steady_clock::now() - connect_start);
  auto backend = std::make_unique<BackendLink>(upstream.name, *std::move(connection));
  if (startup_->pending_close) {
    // Asked to close while connecting: the backend never gets a startup
    // packet, so there is no session on it to end.
    co_await SendOwnFatal(startup_->pending_close->sqlstate, startup_->pending_close->message);
    scope.End(SessionEnd::kClosedByPgvalve, "closed by pgvalve", startup_->pending_close->message);
    backend->stream.Close();
    co_return nullptr;
  }
  absl::Status authenticated = co_await StartBackendSession(
      *backend, upstream, routing.tls->upstream(upstream.name), startup, deadline);
  if (!authenticated.ok()) {
    const RelayEnd end = AuthenticationEnd(authenticated);
    if (!end.sqlstate.empty()) {
      spdlog::info("session {}: {}", scope.id(), EscapeForLog(StatusText(authenticated)));
      co_await SendOwnFatal(end.sqlstate, StatusText(authenticated), protocol::DetailOf(authenticated));
      co_await SendTerminate(backend->stream);
    }
    scope.End(SessionEndOf(end.reason, false), EndText(end.reason), end.detail);
    backend->stream.Close();
    co_return nullptr;
  }
  co_return backend;
}

void ClientSession::StartRelay(const protocol::StartupMessage& message, steady_clock::time_point deadline) {
  // As the client sent it, for the "session open" line: PostgreSQL reports
  // it back with what is not printable ASCII replaced.
  startup_->application_name = message.application_name();
  relay_ = std::make_unique<Relay>(*this, client_, *backend_, *record_, context_.cancel_keys, scope_->gate(),
                                   RelayLimits{.max_client_message_size = startup_->config->proxy.max_message_size,
                                               .startup_deadline = deadline,
                                               .hold_timeout = startup_->config->proxy.hold_timeout});
  relay_running_ = true;
  // Asked to close while authenticating: the relay ends the session at
  // once, telling both sides.
  if (const std::optional<PendingClose>& close = startup_->pending_close) {
    relay_->RequestClose(CloseWhen::kNow, close->sqlstate, close->message);
  }
  relay_->Start();
}

void ClientSession::OnStartupComplete() {
  // What only the startup used goes now: an idle session keeps none of it.
  const std::unique_ptr<Startup> startup = std::move(startup_);
  const SessionIdentity& identity = record_->identity();
  spdlog::info(
      "session {} open: client={} database={} user={} application_name={} upstream={} "
      "backend_pid={} virtual_pid={}",
      scope_->id(), startup->address.ToString(), QuoteForLog(identity.database), QuoteForLog(identity.user),
      QuoteForLog(startup->application_name), QuoteForLog(backend_->upstream_name), record_->backend_pid(),
      record_->virtual_pid());
}

void ClientSession::OnRelayEnded(RelayEnd end, std::exception_ptr failure) {
  relay_running_ = false;
  asio::co_spawn(executor_, EndRelay(std::move(end), std::move(failure)),
                 [self = shared_from_this()](std::exception_ptr error) { self->Finish(error); });
}

Awaitable<absl::Status> ClientSession::StartBackendSession(BackendLink& backend,
                                                         const config::UpstreamConfig& upstream,
                                                         SSL_CTX* tls_context,
                                                         const ReceivedStartupPacket& startup,
                                                         steady_clock::time_point deadline) {
  const bool plain_first = upstream.tls.mode == config::ServerTlsMode::kAllow && backend.stream.tls() == nullptr &&
                           !upstream.host.starts_with('/');
  if (auto [write_error, written] = co_await backend.stream.WriteAll(startup.bytes); write_error) {
    co_return UnavailableError(write_error.message());
  }
  absl::Status authenticated = co_await RelayAuthentication(client_, backend.stream, upstream.name, deadline,
                                                            record_->counters(), plain_first);
  if (authenticated.code() != absl::StatusCode::kFailedPrecondition) co_return authenticated;

  // libpq's allow: refused in plain text, the same startup once more over
  // TLS. The client has seen nothing of the first attempt.
  spdlog::info("session {}: upstream {} {}; trying again over TLS (server_tls_sslmode = allow)", record_->id(),
               QuoteForLog(upstream.name), EscapeForLog(StatusText(authenticated)));
  backend.stream.Close();
  absl::StatusOr<UpstreamConnection> connection =
      co_await ConnectUpstream(upstream, tls_context, /*retrying_in_tls=*/true);
  if (!connection.ok()) {
    co_return protocol::ErrorWithSqlState(sqlstate::kConnectionFailure, StatusText(connection.status()));
  }
  backend.stream = std::move(connection->stream);
  backend.endpoint = SharedEndpoint(std::move(connection->endpoint));
  if (auto [write_error, written] = co_await backend.stream.WriteAll(startup.bytes); write_error) {
    co_return UnavailableError(write_error.message());
  }
  co_return co_await RelayAuthentication(client_, backend.stream, upstream.name, deadline, record_->counters());
}

Awaitable<ClientSession::StartupHold> ClientSession::WaitWhilePaused(DatabaseGate& gate) {
  startup_->hold = std::make_shared<asio::steady_timer>(executor_, startup_->config->proxy.hold_timeout);
  auto woken = std::make_shared<bool>(false);
  auto ticket = gate.StartHolding(
      executor_,
      [timer = startup_->hold, woken] {
        *woken = true;
        timer->cancel();
      },
      HoldKind::kNewSession);
  if (!ticket) co_return StartupHold::kResumed;
  record_->SetState(SessionState::kHeld);
  gate.NotifyWatchers();
  const auto held_since = steady_clock::now();
  const bool client_left = co_await WaitForStartupHold(*woken);
  gate.StopHolding(*ticket);
  context_.events.HoldEnded(HoldKind::kNewSession, steady_clock::now() - held_since);
  startup_->hold.reset();
  record_->SetState(SessionState::kStarting);
  if (client_left) co_return StartupHold::kClientLeft;
  if (startup_->pending_close) co_return StartupHold::kCloseRequested;
  co_return *woken ? StartupHold::kResumed : StartupHold::kTimedOut;
}

Awaitable<bool> ClientSession::WaitForStartupHold(const bool& woken) {
  // The client has sent its startup packet and waits for the answer, so
  // the socket turns readable when it leaves. Bytes it sends before that
  // answer are not pgvalve's to take; they stay for the server, and since
  // the socket then stays readable only the timer is left to wait on.
  bool watch_client = true;
  // A wake-up cancels the timer only if a wait is pending, so each wait
  // starts after checking for one.
  while (!woken && !startup_->pending_close) {
    if (!watch_client) {
      co_await startup_->hold->async_wait(kUseTuple);
      break;
    }
    const HeldWake wake = co_await WaitForTimerOrClient(*startup_->hold, client_);
    if (wake.what == HeldWake::What::kTimer) break;
    if (wake.error) co_return true;
    std::byte next;
    auto [peek_error, peeked] = client_.TryPeekSome(std::span(&next, 1));
    if (MustWait(peek_error)) continue;
    // EOF or a reset.
    if (peek_error) co_return true;
    watch_client = false;
  }
  co_return false;
}

Awaitable<void> ClientSession::CancelRunningStatement() {
  std::optional<BackendKey> key = record_->backend();
  if (!key) co_return;
  absl::Status sent = co_await ForwardCancelRequest(*key, kCancelAtCloseTimeout);
  // The session is closed next whatever happened; the line only explains
  // a backend that lingers.
  if (!sent.ok()) {
    spdlog::warn("session {}: cancel request for backend pid {} failed: {}", record_->id(), key->pid,
                 StatusText(sent));
  }
}

Awaitable<void> ClientSession::SendOwnFatal(std::string_view sqlstate, std::string_view message,
                                            std::string_view detail, std::string_view hint) {
  context_.events.ErrorSent(sqlstate);
  return SendFatal(client_, sqlstate, message, detail, hint);
}

Awaitable<void> ClientSession::EndRelay(RelayEnd end, std::exception_ptr failure) {
  if (failure) std::rethrow_exception(failure);
  scope_->End(SessionEndOf(end.reason, record_->backend_pid() != 0), EndText(end.reason), end.detail);
  const bool tell_client = !end.sqlstate.empty() && relay_->client_stream_clean();
  switch (end.reason) {
    case RelayEndReason::kClientTerminated:
    case RelayEndReason::kServerDisconnected:
      break;
    case RelayEndReason::kServerProtocolError:
      if (tell_client) {
        co_await SendOwnFatal(end.sqlstate, fmt::format("upstream \"{}\" sent an invalid message: {}",
                                                        backend_->upstream_name, end.detail));
      }
      break;
    case RelayEndReason::kClientDisconnected:
    case RelayEndReason::kClientProtocolError:
    case RelayEndReason::kCloseRequested:
    case RelayEndReason::kStartupTimeout:
      if (tell_client) co_await SendOwnFatal(end.sqlstate, end.detail);
      if (cancel_running_at_end_ && relay_->tracker().awaiting_ready() > 0) co_await CancelRunningStatement();
      // The relay's backend: the one this session connected, unless it was
      // handed over (relay.h).
      if (relay_->backend() && relay_->server_stream_clean()) co_await SendTerminate(relay_->backend()->stream);
      break;
  }
  client_.ShutdownSend();
}

}  // namespace pgvalve::proxy
