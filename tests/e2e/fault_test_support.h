#pragma once
// Support for the fault tests: each test gets its own pgvalve (started
// from a config file it can rewrite and reload), and a PostgreSQL 15 of its
// own when the fault breaks the server, since that would break it for
// everyone on it.
// Plus the observations the tests make: how a request in flight ended,
// whether the proxy closed an idle client, pgvalve's resident memory, its
// session registry (SHOW CLIENTS) and the server's backends.

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tests/e2e/libpq_waits.h"
#include "tests/support/libpq_helpers.h"
#include "tests/support/pg_server.h"
#include "tests/support/pgvalve_process.h"
#include "tests/support/temp_dir.h"

namespace pgvalve::test {

inline constexpr std::string_view kFaultAdminUser = "admin";
inline constexpr std::string_view kFaultAdminPassword = "fault-admin-pw";

// The settings the fault tests vary; durations as pgvalve.toml writes them.
struct FaultPgvalveOptions {
  int max_client_connections = 100;
  std::string startup_timeout = "30s";
  std::string connect_timeout = "5s";
  // Gives upstream "blue" control_user postgres: the control connection
  // that TERMINATE, SHOW BACKENDS and DRAIN use.
  bool control_connection = false;
};

// pgvalve run with `--config FILE` only: [proxy] on a free port with the
// options above, an admin console with user admin (role admin), upstream
// "blue" (the given PostgreSQL) for every database. Log level info, so
// every reload and session leaves a line.
class FaultPgvalve {
 public:
  FaultPgvalve(const PgServer& pg, FaultPgvalveOptions options);

  // The config file for `options`; WriteConfig puts it in place and
  // WriteConfigText anything else (a broken file). Both replace the file
  // with a rename, so a reload never reads half of one.
  std::string ConfigText(const FaultPgvalveOptions& options) const;
  void WriteConfig(const FaultPgvalveOptions& options) { WriteConfigText(ConfigText(options)); }
  void WriteConfigText(const std::string& text);

  PgvalveProcess& process() { return *process_; }
  const std::string& config_path() const { return config_path_; }
  uint16_t port() const { return listen_port_; }

  std::string ClientConnString(std::string_view database = "postgres",
                               std::string_view extra = "") const;
  PgConn ConnectAdmin() const;

 private:
  const PgServer& pg_;
  TempDir dir_;
  uint16_t listen_port_;
  uint16_t admin_port_;
  std::string config_path_;
  std::unique_ptr<PgvalveProcess> process_;
};

// How the request in flight on a connection ended.
struct RequestEnd {
  bool ended = false;            // false: still running at the deadline
  bool connection_lost = false;  // the connection is gone (PQstatus BAD)
  std::string sqlstate;          // of the first error result, "" if none
  std::string message;           // that error's text, or libpq's
  std::string Describe() const;
};
// Waits for every result of the request sent on `conn` (PQsendQuery);
// never throws, never blocks past `deadline`.
RequestEnd AwaitRequestEnd(PGconn* conn, Deadline deadline);

// Waits until the other end closes an idle connection: reads (and drops
// any notice) until libpq reports the connection lost. False if it is
// still open at the deadline.
bool AwaitConnectionClosed(PGconn* conn, Deadline deadline);

// VmRSS of `pid` in KiB from /proc/PID/status; 0 when it cannot be read.
long ResidentKib(pid_t pid);

// Rows of SHOW CLIENTS: pgvalve's session registry.
int RegisteredSessions(PGconn* admin);
// SHOW CLIENTS' `column` for the session whose application_name is
// `application_name`; "" when there is no such session.
std::string SessionColumn(PGconn* admin, std::string_view application_name,
                          std::string_view column);

// Client backends on `pg` (pg_stat_activity rows of backend_type 'client
// backend') that meet the SQL `condition`, not counting the connection
// that asks: a fresh one over the unix socket, so it works across server
// restarts. -1 when the server cannot be asked.
int ClientBackends(const PgServer& pg, std::string_view condition = "true");
// The same for those with this application_name.
int BackendsOf(const PgServer& pg, std::string_view application_name);

// The backends SHOW BACKENDS `database` lists, as "pgvalve_client:pid"
// lines; its error as "ERROR sqlstate: message" when it fails.
std::string ShowBackends(PGconn* admin, std::string_view database);

// Number of occurrences of `needle` in `text` (lines of a log).
size_t CountOccurrences(std::string_view text, std::string_view needle);

// pg_backend_pid() of a session.
int32_t BackendPid(PGconn* conn);

// Fixture of the fault tests. TearDown fails the test unless pgvalve,
// having lived through the fault, still shuts down cleanly (exit status,
// no sanitizer report).
class FaultTest : public ::testing::Test {
 protected:
  // A PostgreSQL of this test's own, for faults that break it, and a
  // pgvalve in front of it.
  void StartWithOwnServer(FaultPgvalveOptions options = {});
  // A pgvalve of this test's own in front of the PostgreSQL that the tests
  // of the suite share (started on first use): for faults that leave the
  // server intact, saving each test an initdb.
  void StartOnSharedServer(FaultPgvalveOptions options = {});
  void TearDown() override;
  static void TearDownTestSuite();

  PgServer& pg() { return *pg_; }
  FaultPgvalve& pgvalve() { return *pgvalve_; }
  // A client through pgvalve, named by its application_name.
  PgConn ConnectClient(std::string_view application_name);

 private:
  static std::unique_ptr<PgServer>& SharedServer();

  std::unique_ptr<PgServer> own_pg_;
  PgServer* pg_ = nullptr;
  std::unique_ptr<FaultPgvalve> pgvalve_;
};

}  // namespace pgvalve::test
