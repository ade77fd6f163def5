#include "upstream/control_connection.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/deadline.h"
#include "proxy/status_text.h"
#include "spdlog/spdlog.h"
#include "upstream/control_connect.h"
#include "upstream/pq_result.h"

namespace pgvalve::upstream {
namespace {

namespace asio = proxy::asio;
using proxy::Awaitable;
using proxy::kUseTuple;
using WaitType = asio::posix::descriptor_base::wait_type;
using Params = std::vector<std::optional<std::string>>;

// The protocol's limit: Bind counts parameters in an Int16.
constexpr size_t kMaxParams = 65535;
// A statement that raises notices in a loop must not fill memory.
constexpr size_t kMaxNotices = 100;

absl::Status MakeStatus(absl::StatusCode code, std::string_view message) {
  return absl::Status(code, absl::string_view(message.data(), message.size()));
}

// InvalidArgument, with 22023 (invalid_parameter_value) for the console.
absl::Status CheckStatement(const config::UpstreamConfig& upstream, const std::string& sql,
                            const Params& params) {
  // libpq takes C strings: a NUL would silently cut the text short.
  if (sql.find('\0') != std::string::npos) {
    return protocol::ErrorWithSqlState(
        protocol::sqlstate::kInvalidParameterValue,
        fmt::format("upstream \"{}\": statement contains a NUL byte", upstream.name));
  }
  if (params.size() > kMaxParams) {
    return protocol::ErrorWithSqlState(
        protocol::sqlstate::kInvalidParameterValue,
        fmt::format("upstream \"{}\": {} parameters, at most {} allowed", upstream.name, params.size(),
                    kMaxParams));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (params[i] && params[i]->find('\0') != std::string::npos) {
      return protocol::ErrorWithSqlState(
          protocol::sqlstate::kInvalidParameterValue,
          fmt::format("upstream \"{}\": parameter ${} contains a NUL byte", upstream.name, i + 1));
    }
  }
  return absl::OkStatus();
}

}  // namespace

class ControlConnection::Core {
 public:
  Core(asio::any_io_executor executor, config::UpstreamConfig upstream)
      : executor_(std::move(executor)), upstream_(std::move(upstream)) {}

  const config::UpstreamConfig& upstream() const { return upstream_; }
  bool has_credentials() const { return upstream_.control_user.has_value(); }
  int32_t backend_pid() const { return connected() ? PQbackendPID(conn_.get()) : 0; }
  int server_version() const { return connected() ? PQserverVersion(conn_.get()) : 0; }

  static Awaitable<absl::Status> EnsureConnected(std::shared_ptr<Core> self);
  static Awaitable<absl::StatusOr<QueryResult>> Query(std::shared_ptr<Core> self, std::string sql,
                                                      Params params, std::chrono::milliseconds timeout);
  // Ends every wait and the connection; see ~ControlConnection.
  void Close();

 private:
  class Turn;
  // A coroutine queued for its turn; it sleeps on `wake` until
  // PassTurn() sets `granted` and cancels the timer.
  struct Waiter {
    explicit Waiter(const asio::any_io_executor& executor)
        : wake(executor, asio::steady_timer::time_point::max()) {}
    asio::steady_timer wake;
    bool granted = false;
  };
  // Which socket the duplicate in socket_ refers to.
  struct SocketIdentity {
    dev_t device = 0;
    ino_t inode = 0;
  };

  static Awaitable<absl::Status> Connect(std::shared_ptr<Core> self);
  static Awaitable<absl::Status> Handshake(std::shared_ptr<Core> self);
  static Awaitable<absl::StatusOr<QueryResult>> Exchange(std::shared_ptr<Core> self);

  // Open, as far as libpq and the kernel know: a connection whose server
  // has hung up counts as closed even before libpq has read the end of file.
  bool connected() const { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK && !PeerHungUp(); }
  bool PeerHungUp() const;
  bool ReadyForStatement();
  absl::Status Send(const std::string& sql, const Params& params);
  absl::Status WatchSocket();
  Awaitable<absl::Status> WaitFor(WaitType what);
  Awaitable<absl::StatusOr<WaitType>> WaitForEither();

  void PassTurn();
  void Settle();
  void Abandon();
  void SendCancel();
  void Reset();

  absl::Status NoCredentials() const;
  absl::Status Lost() const;
  absl::Status ClosedError() const;
  static void OnNotice(void* core, const PGresult* notice);

  asio::any_io_executor executor_;
  const config::UpstreamConfig upstream_;
  pq::Conn conn_;
  // Declared after conn_, so destroyed before it: Asio lets go of the
  // duplicate before libpq closes the original.
  std::optional<asio::posix::stream_descriptor> socket_;
  SocketIdentity watched_;
  bool statement_in_flight_ = false;
  bool closed_ = false;
  // What the server said in a FATAL on an idle connection (it is going away).
  std::optional<std::string> farewell_;
  std::vector<std::string> notices_;

  bool turn_taken_ = false;
  std::deque<Waiter*> waiters_;

  // Set while a cancel request is being delivered. Shared with the thread
  // that delivers it, which may outlive this object.
  std::shared_ptr<std::atomic<bool>> cancel_running_ = std::make_shared<std::atomic<bool>>(false);
};

// The right to use the connection, one coroutine at a time, in arrival
// order. Whoever holds it leaves the connection fit for the next statement
// however it stops: returning, failing, being cancelled or destroyed.
class ControlConnection::Core::Turn {
 public:
  explicit Turn(Core& core) : core_(core) {}
  ~Turn() {
    if (!held_) return;
    core_.Settle();
    core_.PassTurn();
  }
  Turn(const Turn&) = delete;
  Turn& operator=(const Turn&) = delete;

  Awaitable<absl::Status> Acquire() {
    if (core_.closed_) co_return core_.ClosedError();
    if (!core_.turn_taken_) {
      core_.turn_taken_ = true;
      held_ = true;
      co_return absl::OkStatus();
    }
    Waiter waiter(core_.executor_);
    core_.waiters_.push_back(&waiter);
    // Runs also when this coroutine is destroyed while queued: no dangling
    // pointer may stay in the queue, and a turn handed over must not be lost.
    absl::Cleanup leave = [this, &waiter] {
      if (!waiter.granted) {
        std::erase(core_.waiters_, &waiter);
      } else if (!held_) {
        core_.PassTurn();
      }
    };
    co_await waiter.wake.async_wait(kUseTuple);
    if (waiter.granted) held_ = true;
    if (core_.closed_) co_return core_.ClosedError();
    if (!held_) co_return absl::CancelledError("cancelled while waiting for the control connection");
    co_return absl::OkStatus();
  }

 private:
  Core& core_;
  bool held_ = false;
};

void ControlConnection::Core::PassTurn() {
  if (waiters_.empty()) {
    turn_taken_ = false;
    return;
  }
  Waiter* next = waiters_.front();
  waiters_.pop_front();
  next->granted = true;
  next->wake.cancel();
}

void ControlConnection::Core::Close() {
  closed_ = true;
  for (Waiter* waiter : waiters_) waiter->wake.cancel();
  waiters_.clear();
  Abandon();
}

Awaitable<absl::Status> ControlConnection::Core::EnsureConnected(std::shared_ptr<Core> self) {
  if (!self->has_credentials()) co_return self->NoCredentials();
  Turn turn(*self);
  if (absl::Status status = co_await turn.Acquire(); !status.ok()) co_return status;
  if (self->ReadyForStatement()) co_return absl::OkStatus();
  co_return co_await Connect(self);
}

Awaitable<absl::StatusOr<QueryResult>> ControlConnection::Core::Query(std::shared_ptr<Core> self,
                                                                      std::string sql, Params params,
                                                                      std::chrono::milliseconds timeout) {
  if (!self->has_credentials()) co_return self->NoCredentials();
  if (absl::Status valid = CheckStatement(self->upstream_, sql, params); !valid.ok()) co_return valid;
  Turn turn(*self);
  if (absl::Status status = co_await turn.Acquire(); !status.ok()) co_return status;

  for (bool retried = false;; retried = true) {
    // A connection found broken here is replaced: the statement has not
    // left yet, so sending it on a new one cannot run it twice.
    const bool reusing = self->ReadyForStatement();
    if (!reusing) {
      if (absl::Status status = co_await Connect(self); !status.ok()) co_return status;
    }
    absl::Status sent = self->Send(sql, params);
    if (sent.ok()) break;
    self->Reset();
    if (!reusing || retried) co_return sent;
  }

  auto outcome = co_await proxy::WithTimeout(Exchange(self), timeout);
  if (self->closed_) co_return self->ClosedError();
  if (!outcome) {
    spdlog::warn(
        "upstream \"{}\": control statement timed out after {} ms; cancelling it and resetting the "
        "control connection (backend pid {})",
        self->upstream_.name, timeout.count(), self->backend_pid());
    self->Abandon();
    // 57014, as PostgreSQL reports a statement_timeout.
    co_return protocol::WithSqlState(
        MakeStatus(absl::StatusCode::kDeadlineExceeded,
                   fmt::format("upstream \"{}\": statement timed out after {} ms; it was cancelled and the "
                               "control connection reset",
                               self->upstream_.name, timeout.count())),
        protocol::sqlstate::kQueryCanceled);
  }
  // Results not drained to the end (COPY, a broken connection): the
  // connection cannot take another statement.
  if (self->statement_in_flight_) self->Abandon();
  co_return std::move(*outcome);
}

Awaitable<absl::Status> ControlConnection::Core::Connect(std::shared_ptr<Core> self) {
  self->Reset();
  const config::UpstreamConfig& upstream = self->upstream_;
  auto outcome = co_await proxy::WithTimeout(Handshake(self), upstream.connect_timeout);
  if (self->closed_) co_return self->ClosedError();
  absl::Status status =
      outcome ? *std::move(outcome)
              : ControlConnectFailure(upstream, fmt::format("timed out after {} ms",
                                                            upstream.connect_timeout.count()));
  if (!status.ok()) {
    self->Reset();
    spdlog::warn("{}", proxy::StatusText(status));
    co_return status;
  }
  spdlog::info("upstream \"{}\": control connection open (backend pid {}, server version {})", upstream.name,
               self->backend_pid(), self->server_version());
  co_return absl::OkStatus();
}

Awaitable<absl::Status> ControlConnection::Core::Handshake(std::shared_ptr<Core> self) {
  const config::UpstreamConfig& upstream = self->upstream_;
  ControlAddresses addresses;
  if (!IsSocketDirectory(upstream.host)) {
    absl::StatusOr<ControlAddresses> resolved =
        co_await ResolveControlAddresses(upstream.host, upstream.port);
    if (self->closed_) co_return self->ClosedError();
    if (!resolved.ok()) co_return ControlConnectFailure(upstream, proxy::StatusText(resolved.status()));
    addresses = *std::move(resolved);
  }

  self->conn_ = StartControlConnection(upstream, addresses);
  if (!self->conn_) co_return ControlConnectFailure(upstream, "libpq could not allocate a connection");
  if (PQstatus(self->conn_.get()) == CONNECTION_BAD) {
    co_return ControlConnectFailure(upstream, pq::OneLine(PQerrorMessage(self->conn_.get())));
  }
  PQsetNoticeReceiver(self->conn_.get(), &Core::OnNotice, self.get());

  // libpq's protocol: start as if PQconnectPoll had asked for writability,
  // then wait for whatever it asks for next.
  PostgresPollingStatusType polling = PGRES_POLLING_WRITING;
  while (polling != PGRES_POLLING_OK) {
    if (polling == PGRES_POLLING_FAILED) {
      co_return ControlConnectFailure(upstream, pq::OneLine(PQerrorMessage(self->conn_.get())));
    }
    if (absl::Status watched = self->WatchSocket(); !watched.ok()) {
      co_return ControlConnectFailure(upstream, proxy::StatusText(watched));
    }
    const WaitType wanted = polling == PGRES_POLLING_READING ? WaitType::wait_read : WaitType::wait_write;
    if (absl::Status ready = co_await self->WaitFor(wanted); !ready.ok()) co_return ready;
    polling = PQconnectPoll(self->conn_.get());
  }
  if (PQsetnonblocking(self->conn_.get(), 1) != 0) {
    co_return ControlConnectFailure(upstream, pq::OneLine(PQerrorMessage(self->conn_.get())));
  }
  co_return absl::OkStatus();
}

// Sends what libpq has buffered, then reads results until libpq has none
// left, which is when the server's ReadyForQuery arrived.
Awaitable<absl::StatusOr<QueryResult>> ControlConnection::Core::Exchange(std::shared_ptr<Core> self) {
  PGconn* conn = self->conn_.get();
  // As libpq asks: while the output does not drain, read too, in case the
  // server is itself stuck writing to us.
  for (;;) {
    const int flushed = PQflush(conn);
    if (flushed == 0) break;
    if (flushed < 0) co_return self->Lost();
    absl::StatusOr<WaitType> ready = co_await self->WaitForEither();
    if (!ready.ok()) co_return ready.status();
    if (*ready == WaitType::wait_read && !PQconsumeInput(conn)) break;
  }

  QueryResult result;
  absl::Status failure;
  for (;;) {
    const bool consumed = PQconsumeInput(conn) != 0;
    // Parse what arrived even when the connection has just ended: a
    // server's last words (FATAL, 57P01) come before its end of file.
    while (!PQisBusy(conn)) {
      pq::Result next(PQgetResult(conn));
      if (!next) {
        self->statement_in_flight_ = false;
        if (!failure.ok()) co_return failure;
        result.notices = std::move(self->notices_);
        self->notices_.clear();
        co_return result;
      }
      switch (PQresultStatus(next.get())) {
        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY:
          pq::TakeRows(next.get(), result);
          break;
        case PGRES_FATAL_ERROR:
          if (failure.ok()) failure = pq::StatementFailure(self->upstream_.name, next.get());
          break;
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH:
          co_return protocol::WithSqlState(
              MakeStatus(absl::StatusCode::kUnimplemented,
                         fmt::format("upstream \"{}\": COPY is not supported on the control connection",
                                     self->upstream_.name)),
              protocol::sqlstate::kFeatureNotSupported);
        default:
          if (failure.ok()) {
            failure =
                absl::InternalError(fmt::format("upstream \"{}\": unexpected result {}", self->upstream_.name,
                                                PQresStatus(PQresultStatus(next.get()))));
          }
          break;
      }
    }
    if (!consumed || PQstatus(conn) == CONNECTION_BAD) co_return failure.ok() ? self->Lost() : failure;
    if (absl::Status ready = co_await self->WaitFor(WaitType::wait_read); !ready.ok()) co_return ready;
  }
}

// Whether the connection can take a statement now. An idle connection the
// server has closed (a restart, pg_terminate_backend, idle_session_timeout)
// shows it here, by its end of file or its FATAL farewell, before anything
// is sent on it.
bool ControlConnection::Core::ReadyForStatement() {
  if (!conn_) return false;
  PGconn* conn = conn_.get();
  std::string reason;
  if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE) {
    const bool alive = PQconsumeInput(conn) != 0;
    PQisBusy(conn);  // parses what arrived, handing a FATAL to OnNotice
    const bool hung_up = alive && PQstatus(conn) == CONNECTION_OK && PeerHungUp();
    if (alive && PQstatus(conn) == CONNECTION_OK && !farewell_ && !hung_up) {
      notices_.clear();
      return true;
    }
    if (farewell_) {
      reason = *farewell_;
    } else if (hung_up) {
      // An immediate shutdown's last words are a WARNING, not a FATAL.
      reason = notices_.empty() ? "the server closed the connection" : notices_.back();
    } else {
      reason = pq::OneLine(PQerrorMessage(conn));
    }
  } else if (PQstatus(conn) == CONNECTION_OK) {
    // A caller ran BEGIN. Every statement starts outside a transaction, so
    // that one caller's leftovers never become another's surprise.
    reason = "left inside a transaction block";
  } else {
    reason = pq::OneLine(PQerrorMessage(conn));
  }
  spdlog::info("upstream \"{}\": control connection unusable ({}); reconnecting", upstream_.name, reason);
  Reset();
  return false;
}

// libpq notices an end of file only when a read returns nothing, and
// PQconsumeInput stops reading once it got data: after a server's last
// words (an immediate shutdown sends a WARNING and closes) it still takes
// the connection for open, and a statement sent on it would be lost. The
// kernel knows better: POLLRDHUP is set once the server's FIN arrived,
// whether or not data is still unread. poll() consumes nothing, so this is
// safe while another coroutine's statement is in flight.
bool ControlConnection::Core::PeerHungUp() const {
  pollfd probe{.fd = PQsocket(conn_.get()), .events = POLLRDHUP, .revents = 0};
  if (probe.fd < 0) return true;
  if (::poll(&probe, 1, /*timeout=*/0) <= 0) return false;
  return (probe.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

absl::Status ControlConnection::Core::Send(const std::string& sql, const Params& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::optional<std::string>& param : params) values.push_back(param ? param->c_str() : nullptr);
  // Text parameters whose types the server infers from the statement; text
  // results.
  if (!PQsendQueryParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), /*paramTypes=*/nullptr,
                         values.data(), /*paramLengths=*/nullptr, /*paramFormats=*/nullptr,
                         /*resultFormat=*/0)) {
    return Lost();
  }
  statement_in_flight_ = true;
  return absl::OkStatus();
}

// Asio waits on a duplicate of libpq's socket: the descriptor object closes
// what it holds, and only libpq may close the original. While connecting,
// libpq opens a new socket for each address it tries and when it retries
// without TLS, and the new one may get the old one's number; so the
// duplicate is matched to the socket by identity (device and inode), not
// by number.
absl::Status ControlConnection::Core::WatchSocket() {
  const int fd = PQsocket(conn_.get());
  if (fd < 0) return proxy::UnavailableError("libpq has no socket");
  struct stat status {};
  if (::fstat(fd, &status) != 0) return proxy::UnavailableError(std::strerror(errno));
  if (socket_ && watched_.device == status.st_dev && watched_.inode == status.st_ino) return absl::OkStatus();

  socket_.reset();
  const int duplicate = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (duplicate < 0) return proxy::UnavailableError(std::strerror(errno));
  boost::system::error_code error;
  socket_.emplace(executor_);
  socket_->assign(duplicate, error);
  if (error) {
    ::close(duplicate);
    socket_.reset();
    return proxy::UnavailableError(error.message());
  }
  watched_ = {status.st_dev, status.st_ino};
  return absl::OkStatus();
}

Awaitable<absl::Status> ControlConnection::Core::WaitFor(WaitType what) {
  if (!socket_) co_return Lost();
  auto [error] = co_await socket_->async_wait(what, kUseTuple);
  // Close() may have run meanwhile; then conn_ and socket_ are gone.
  if (closed_) co_return ClosedError();
  if (error) co_return Lost();
  co_return absl::OkStatus();
}

Awaitable<absl::StatusOr<WaitType>> ControlConnection::Core::WaitForEither() {
  using namespace asio::experimental::awaitable_operators;
  auto ready = co_await (WaitFor(WaitType::wait_read) || WaitFor(WaitType::wait_write));
  const WaitType which = ready.index() == 0 ? WaitType::wait_read : WaitType::wait_write;
  absl::Status status = ready.index() == 0 ? std::get<0>(std::move(ready)) : std::get<1>(std::move(ready));
  if (!status.ok()) co_return status;
  co_return which;
}

// Leaves the connection fit for the next turn, however this one ended.
void ControlConnection::Core::Settle() {
  if (statement_in_flight_) {
    Abandon();
  } else if (conn_ && PQstatus(conn_.get()) != CONNECTION_OK) {
    Reset();  // a handshake cut short
  }
}

// Gives up on the connection, cancelling the statement it runs, if any.
// The connection is reset rather than reused after the cancel: a cancel
// that arrived late would otherwise hit the next statement instead.
void ControlConnection::Core::Abandon() {
  if (statement_in_flight_ && connected()) SendCancel();
  Reset();
}

// Without a cancel, the server would carry on with the abandoned statement
// until it ended by itself: a backend does not notice that its client left
// until it next writes. libpq 15's PQcancel blocks (connect, send, wait for
// the server to close), and libpq 15 hides the cancel key that a
// non-blocking CancelRequest of our own would need; so PQcancel runs on a
// short-lived thread of its own. The thread owns its PGcancel, which does
// not refer to the connection, so nothing waits for it: not the event loop,
// not the destructor. One at a time per upstream, so that an upstream that
// swallows connection attempts cannot pile threads up.
void ControlConnection::Core::SendCancel() {
  if (cancel_running_->exchange(true)) {
    spdlog::warn("upstream \"{}\": previous cancel request still in progress; not cancelling backend pid {}",
                 upstream_.name, backend_pid());
    return;
  }
  pq::Cancel cancel(PQgetCancel(conn_.get()));
  if (!cancel) {
    cancel_running_->store(false);
    return;
  }
  try {
    std::thread([cancel = std::move(cancel), running = cancel_running_] {
      char error[256];
      PQcancel(cancel.get(), error, sizeof error);
      running->store(false);
    }).detach();
  } catch (const std::system_error& error) {
    cancel_running_->store(false);
    spdlog::warn("upstream \"{}\": could not start cancelling backend pid {}: {}", upstream_.name,
                 backend_pid(), error.what());
  }
}

void ControlConnection::Core::Reset() {
  socket_.reset();  // ends pending waits; closes the duplicate only
  conn_.reset();    // PQfinish: Terminate, then close
  statement_in_flight_ = false;
  farewell_.reset();
  notices_.clear();
}

absl::Status ControlConnection::Core::NoCredentials() const {
  return protocol::WithSqlState(
      MakeStatus(absl::StatusCode::kFailedPrecondition,
                 fmt::format("upstream \"{}\" has no control_user configured", upstream_.name)),
      protocol::sqlstate::kObjectNotInPrerequisiteState);
}

absl::Status ControlConnection::Core::Lost() const {
  return protocol::WithSqlState(
      proxy::UnavailableError(fmt::format("upstream \"{}\": control connection lost: {}", upstream_.name,
                                          conn_ ? pq::OneLine(PQerrorMessage(conn_.get())) : "not connected")),
      protocol::sqlstate::kConnectionFailure);
}

absl::Status ControlConnection::Core::ClosedError() const {
  return absl::CancelledError(fmt::format("upstream \"{}\": control connection closed", upstream_.name));
}

// libpq's notice receiver: WARNING and NOTICE messages go to the statement's
// result. On an idle connection libpq hands over an ErrorResponse the same
// way; a FATAL one means the server is closing the connection.
void ControlConnection::Core::OnNotice(void* arg, const PGresult* notice) {
  auto* core = static_cast<Core*>(arg);
  std::string text = pq::NoticeText(notice);
  if (pq::IsFatal(notice)) {
    core->farewell_ = std::move(text);
    return;
  }
  spdlog::debug("upstream \"{}\": {}", core->upstream_.name, text);
  if (core->notices_.size() < kMaxNotices) core->notices_.push_back(std::move(text));
}

ControlConnection::ControlConnection(proxy::asio::any_io_executor executor, config::UpstreamConfig upstream,
                                     std::shared_ptr<TerminationCounts> terminations)
    : core_(std::make_shared<Core>(std::move(executor), std::move(upstream))),
      terminations_(terminations ? std::move(terminations) : std::make_shared<TerminationCounts>()) {}

ControlConnection::~ControlConnection() { core_->Close(); }

const config::UpstreamConfig& ControlConnection::upstream() const { return core_->upstream(); }

bool ControlConnection::has_credentials() const { return core_->has_credentials(); }

proxy::Awaitable<absl::Status> ControlConnection::EnsureConnected() { return Core::EnsureConnected(core_); }

proxy::Awaitable<absl::StatusOr<QueryResult>> ControlConnection::Query(std::string sql, Params params,
                                                                       std::chrono::milliseconds timeout) {
  return Core::Query(core_, std::move(sql), std::move(params), timeout);
}

int32_t ControlConnection::backend_pid() const { return core_->backend_pid(); }

int ControlConnection::server_version() const { return core_->server_version(); }

}  // namespace pgvalve::upstream
