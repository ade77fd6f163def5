#pragma once
// Support for the admin console's end-to-end tests: a pgvalve started from
// a config file (admin listener, state file, admin and monitor users, named
// upstreams), one PostgreSQL 15 and one such pgvalve shared by every test
// of a binary, result sets read by column name, and requests that block
// (a held query, a PAUSE) run on threads of their own with a hang guard.
//
// Each test binary chooses its pgvalve's configuration by defining
// SharedPgvalveOptions().

#include <libpq-fe.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/e2e/libpq_waits.h"
#include "tests/support/libpq_helpers.h"
#include "tests/support/pg_server.h"
#include "tests/support/pgvalve_process.h"
#include "tests/support/temp_dir.h"

namespace pgvalve::test {

inline constexpr std::string_view kAdminUser = "admin";
inline constexpr std::string_view kAdminPassword = "admin-pw";
inline constexpr std::string_view kMonitorUser = "watcher";
inline constexpr std::string_view kMonitorPassword = "watcher-pw";

// What varies between the pgvalves of the test binaries.
struct AdminPgvalveOptions {
  std::string hold_timeout = "60s";
  // More top-level `key = value` lines (log_format = "json").
  std::string top_toml;
  // More `key = value` lines of the [proxy] and [admin] tables.
  std::string proxy_toml;
  std::string admin_toml;
  // Run under these RLIMIT_NOFILE limits (`ulimit -Hn`, `ulimit -Sn` in a
  // shell that then execs pgvalve); 0 leaves the inherited limits.
  int fd_hard_limit = 0;
  int fd_soft_limit = 0;
  // Appended to the generated file: more [upstreams.NAME] and
  // [databases."NAME"] tables.
  std::string extra_toml;
  // Whether the file routes every database ("*") to "blue"; without it
  // only the databases of extra_toml's routes are served.
  bool route_every_database = true;
};

// An [upstreams.NAME] table pointing at `pg`. No control_user when
// `control_user` is empty.
std::string UpstreamToml(std::string_view name, const PgServer& pg,
                         std::string_view control_user = kSuperuser,
                         std::string_view control_dbname = "");
// A [databases."NAME"] table routing `database` to `upstream`.
std::string RouteToml(std::string_view database, std::string_view upstream);

// pgvalve run with `--config FILE` and nothing else. The file routes every
// database ("*", unless the options say otherwise) to upstream "blue" (the
// given PostgreSQL, control_user postgres), serves the admin console on
// 127.0.0.1 with users admin (role admin) and watcher (role monitor), and
// keeps a state file. Ports, config file and state file stay the same
// across restarts.
class AdminPgvalve {
 public:
  AdminPgvalve(const PgServer& pg, AdminPgvalveOptions options);
  ~AdminPgvalve() = default;
  AdminPgvalve(const AdminPgvalve&) = delete;
  AdminPgvalve& operator=(const AdminPgvalve&) = delete;

  // Starts the process unless it runs; returns once both the client and
  // the admin port accept connections. Throws std::runtime_error with the
  // log when it cannot.
  void Start();
  // Stops the process (SIGTERM) and returns "" if it shut down cleanly,
  // otherwise what went wrong (PgvalveProcess::StopAndCheck).
  std::string StopAndCheck();
  // Rewrites the config file; a RELOAD or SIGHUP makes pgvalve read it.
  void WriteConfig(const AdminPgvalveOptions& options);

  bool IsRunning() const { return process_ && process_->IsRunning(); }
  PgvalveProcess& process() { return *process_; }

  uint16_t listen_port() const { return listen_port_; }
  uint16_t admin_port() const { return admin_port_; }
  const std::string& config_path() const { return config_path_; }
  const std::string& state_path() const { return state_path_; }

  std::string ClientConnString(std::string_view database, std::string_view user = kSuperuser,
                               std::string_view extra = "") const;
  std::string AdminConnString(std::string_view user = kAdminUser,
                              std::string_view password = kAdminPassword,
                              std::string_view database = "pgvalve") const;

 private:
  const PgServer& pg_;
  int fd_hard_limit_ = 0;
  int fd_soft_limit_ = 0;
  TempDir dir_;
  uint16_t listen_port_;
  uint16_t admin_port_;
  std::string config_path_;
  std::string state_path_;
  std::unique_ptr<PgvalveProcess> process_;
};

// Defined by each test binary: the configuration of its shared pgvalve.
AdminPgvalveOptions SharedPgvalveOptions(const PgServer& pg);

// A result set with cells looked up by column name.
class ResultTable {
 public:
  ResultTable() = default;
  explicit ResultTable(const PGresult* result);

  size_t size() const { return rows_.size(); }
  const std::vector<std::string>& columns() const { return columns_; }
  bool HasColumn(std::string_view column) const;
  // Throws std::out_of_range naming the column when there is none.
  std::optional<std::string> Get(size_t row, std::string_view column) const;
  // Like Get, with NULL shown as "<NULL>".
  std::string Text(size_t row, std::string_view column) const;
  // The first row whose `column` is `value`.
  std::optional<size_t> FindRow(std::string_view column, std::string_view value) const;
  // Every row as text, for failure messages.
  std::string ToString() const;

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<std::optional<std::string>>> rows_;
};

// How one request ended.
struct QueryOutcome {
  ExecStatusType status = PGRES_FATAL_ERROR;
  std::string sqlstate;  // "" when it succeeded or no server error came
  std::string message;   // primary message, or libpq's when no server error came
  std::string detail;
  ResultTable table;     // rows of the last result
  std::chrono::steady_clock::time_point finished;

  bool ok() const { return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK; }
  // "ERROR 55000: message (DETAIL: ...)" or "ok", for failure messages.
  std::string Describe() const;
};

// PQexec / PQexecParams (text parameters, text results) that never throw.
QueryOutcome RunQuery(PGconn* conn, const std::string& sql);
QueryOutcome RunQueryParams(PGconn* conn, const std::string& sql,
                            const std::vector<std::string>& params);
// Every result of a multi-statement simple query, in order.
std::vector<PgResult> ExecAll(PGconn* conn, const std::string& sql);
// Runs `sql` and returns its rows; throws PgError when it fails.
ResultTable QueryTable(PGconn* conn, const std::string& sql);

// Runs `work` on a thread of its own, for requests expected to block. The
// destructor calls `unblock` if the work has not finished (for a query:
// shut its socket down, which makes libpq return), so a failing test never
// hangs on the join.
template <typename T>
class Background {
 public:
  Background(std::function<T()> work, std::function<void()> unblock)
      : state_(std::make_shared<State>()), unblock_(std::move(unblock)) {
    thread_ = std::thread([state = state_, work = std::move(work)] {
      T value = work();
      std::lock_guard lock(state->mutex);
      state->value = std::move(value);
      state->finished = std::chrono::steady_clock::now();
      state->changed.notify_all();
    });
  }
  Background(Background&&) noexcept = default;
  Background& operator=(Background&&) = delete;
  Background(const Background&) = delete;
  ~Background() {
    if (!thread_.joinable()) return;
    if (!WaitFor(std::chrono::milliseconds(0)) && unblock_) unblock_();
    thread_.join();
  }

  // True once the work has finished, waiting up to `timeout` for it.
  bool WaitFor(std::chrono::milliseconds timeout) {
    std::unique_lock lock(state_->mutex);
    return state_->changed.wait_for(lock, timeout, [this] { return state_->value.has_value(); });
  }
  bool done() { return WaitFor(std::chrono::milliseconds(0)); }
  // The work's value, waiting up to kHangGuard; throws when it is still
  // running then.
  T& Result() {
    if (!WaitFor(kHangGuard)) throw std::runtime_error("background request still running after the hang guard");
    return *state_->value;
  }
  std::chrono::steady_clock::time_point finished_at() {
    Result();
    return state_->finished;
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    std::optional<T> value;
    std::chrono::steady_clock::time_point finished;
  };
  std::shared_ptr<State> state_;
  std::function<void()> unblock_;
  std::thread thread_;
};

Background<QueryOutcome> QueryInBackground(PGconn* conn, std::string sql);
Background<QueryOutcome> QueryParamsInBackground(PGconn* conn, std::string sql,
                                                 std::vector<std::string> params);
Background<ConnectOutcome> ConnectInBackground(std::string conninfo);

// NOTICE and WARNING messages a connection receives, from any thread, and
// errors that arrive while no request is running (libpq hands those to the
// notice receiver too, e.g. a FATAL sent to an idle session).
class NoticeLog {
 public:
  struct Notice {
    std::string severity;  // "NOTICE", "FATAL", ...
    std::string sqlstate;
    std::string message;
    std::string detail;
    std::chrono::steady_clock::time_point received;
  };
  // Installs itself as `conn`'s notice receiver; must outlive its use.
  explicit NoticeLog(PGconn* conn);
  std::vector<Notice> notices() const;

 private:
  static void Receive(void* self, const PGresult* result);
  mutable std::mutex mutex_;
  std::vector<Notice> notices_;
};

// Polls `condition` every 20 ms until it holds or `timeout` passes.
bool WaitUntil(const std::function<bool()>& condition,
               std::chrono::milliseconds timeout = kHangGuard);

// SHOW CLIENTS' id of the session `client` (matched on its virtual pid);
// throws std::runtime_error without one.
std::string ClientId(PGconn* admin, PGconn* client);
// SHOW CLIENTS' state of the session with id `client_id`, or
// "<no such client>".
std::string ClientState(PGconn* admin, std::string_view client_id);

// Number of occurrences of `needle` in `text`.
size_t CountOccurrences(std::string_view text, std::string_view needle);

// The fixture of every admin end-to-end test: a PostgreSQL and a pgvalve
// (SharedPgvalveOptions) shared by the binary, started on first use,
// checked after each test (a crash fails the test and is followed by a
// fresh start) and when the binary finishes (unclean exit or a sanitizer
// report fails the run).
class AdminConsoleTest : public ::testing::Test {
 public:
  static PgServer& pg();
  static AdminPgvalve& pgvalve();

 protected:
  void SetUp() override;
  void TearDown() override;

  // Creates a database whose name is made from the test's name (and
  // `suffix`), so no two tests share one.
  std::string FreshDatabase(std::string_view suffix = "");

  // Through the shared pgvalve, straight to PostgreSQL, and to the admin
  // console; each throws PgError when it fails.
  static PgConn ConnectClient(std::string_view database, std::string_view user = kSuperuser);
  static PgConn ConnectDirect(std::string_view database, std::string_view user = kSuperuser);
  static PgConn ConnectAdmin(std::string_view user = kAdminUser,
                             std::string_view password = kAdminPassword);

  // SHOW CLIENTS' row for `client` (matched on virtual_pid =
  // PQbackendPID), and from it the session's id and state.
  static ResultTable ShowClients(PGconn* admin);
  static std::string ClientId(PGconn* admin, PGconn* client);
  static std::string ClientState(PGconn* admin, std::string_view client_id);
  // Waits until SHOW CLIENTS reports `state` for the session.
  static bool WaitForClientState(PGconn* admin, std::string_view client_id, std::string_view state);
  // SHOW DATABASES' `column` for `database` ("<none>" without a row).
  static std::string DatabaseColumn(PGconn* admin, std::string_view database,
                                    std::string_view column);

  // pg_backend_pid() of a session, asked through it.
  static int32_t BackendPid(PGconn* conn);
  // Whether PostgreSQL lists `pid` in pg_stat_activity, asked on `direct`.
  static bool BackendListed(PGconn* direct, int32_t pid);
  // Waits until `pid` runs a statement (state active) on PostgreSQL.
  static bool WaitForBackendActive(PGconn* direct, int32_t pid);
  // Waits until PostgreSQL, asked on `direct`, no longer lists `pid`.
  static bool WaitUntilGone(PGconn* direct, int32_t pid);
  // Creates `name` unless it exists: databases with routes of their own
  // have fixed names, shared by the tests of a binary.
  static void EnsureDatabase(std::string_view name);

 private:
  int databases_made_ = 0;
};

}  // namespace pgvalve::test
