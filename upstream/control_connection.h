#pragma once
// The admin console's own session with an upstream. TERMINATE, SHOW
// BACKENDS and DRAIN run their SQL over it, logged in with the upstream's
// control credentials (control_user, control_password or control_passfile,
// control_dbname).
//
// libpq speaks the protocol in non-blocking mode and the Asio event loop
// waits on its socket, so no Asio thread ever blocks on the server: not
// while connecting, not while a statement runs, not on a timeout.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/config.h"
#include "proxy/asio.h"

namespace pgvalve::upstream {

// What one statement returned, every value in text format.
struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;  // nullopt: NULL
  std::string command_tag;                                    // "SELECT 1"
  // WARNING and NOTICE messages the statement raised, e.g. "PID 42 is not
  // a PostgreSQL backend process" from pg_terminate_backend.
  std::vector<std::string> notices;
};

inline constexpr std::chrono::milliseconds kDefaultStatementTimeout = std::chrono::seconds(10);

// One libpq connection to one upstream, opened on first use and reopened
// after it breaks.
//
// Every call, and the destructor, must happen on the executor given to the
// constructor, which must not run handlers on two threads at once (an
// io_context run by one thread, or a strand), or while that executor is not
// running; and, like any Asio I/O object, a ControlConnection must be
// destroyed before its io_context. Several coroutines may await Query() at
// the same time: statements run one at a time, first come first served.
//
// Errors name the upstream and carry the SQLSTATE the admin console reports
// (protocol::SqlStateOf). A statement the server rejected carries the
// server's; a statement that outlived its timeout is DeadlineExceeded
// (57014); an upstream that cannot be reached is Unavailable (08001), a
// connection lost under a statement too (08006); no control_user is
// FailedPrecondition (55000); a NUL in the statement or a parameter is
// InvalidArgument (22023).
// pg_terminate_backend calls made through an upstream's control connections
// (backend_signals.h), for /metrics: those sent, and those the server
// confirmed (it returned true: the backend was signalled). Control thread
// only, as the connection.
struct TerminationCounts {
  uint64_t sent = 0;
  uint64_t confirmed = 0;
};

class ControlConnection {
 public:
  // `terminations`: where this connection's terminations are counted,
  // shared with the connection that replaces it after a reload; a count
  // of its own when null.
  ControlConnection(proxy::asio::any_io_executor executor, config::UpstreamConfig upstream,
                    std::shared_ptr<TerminationCounts> terminations = nullptr);
  // Closes the connection. A statement still running on the server is
  // cancelled; coroutines still waiting in Query() or EnsureConnected()
  // complete with an error the next time the executor runs them.
  ~ControlConnection();

  ControlConnection(const ControlConnection&) = delete;
  ControlConnection& operator=(const ControlConnection&) = delete;

  const config::UpstreamConfig& upstream() const;
  // Whether control_user is configured; without it every call fails.
  bool has_credentials() const;

  // Opens the connection unless it is open and healthy, within the
  // upstream's connect_timeout.
  proxy::Awaitable<absl::Status> EnsureConnected();

  // Runs one statement with `params` bound as text to $1, $2, ... (nullopt
  // binds NULL); the SQL text is never built from them. Connects first if
  // needed. `timeout` counts from the moment the statement is sent; when it
  // passes, the statement is cancelled on the server and the connection
  // reset, so the next call starts on a fresh one.
  //
  // A connection found broken before the statement is sent (the server
  // restarted, or someone terminated the control backend) is replaced and
  // the statement sent on the new one. Once sent, a statement is never
  // repeated: a failure then is returned, as it may have taken effect.
  proxy::Awaitable<absl::StatusOr<QueryResult>> Query(
      std::string sql, std::vector<std::optional<std::string>> params,
      std::chrono::milliseconds timeout = kDefaultStatementTimeout);

  // The server process of the control connection (pg_backend_pid()), so
  // that callers can refuse to terminate it; 0 when not connected.
  int32_t backend_pid() const;
  // The server's version as a number (150004 for 15.4); 0 when not connected.
  int server_version() const;

  TerminationCounts& terminations() { return *terminations_; }

 private:
  // The connection's state, shared with the coroutines using it so that
  // destroying the ControlConnection under them is safe.
  class Core;
  std::shared_ptr<Core> core_;
  std::shared_ptr<TerminationCounts> terminations_;
};

}  // namespace pgvalve::upstream
