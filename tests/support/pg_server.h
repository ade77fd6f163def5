#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace pgvalve::test {

// Roles every PgServer creates. Over TCP, scram_user must authenticate with
// SCRAM-SHA-256 and md5_user with MD5; everyone else (app_user, postgres)
// is trusted, and so is everyone over the unix socket.
inline constexpr std::string_view kScramUser = "scram_user";
inline constexpr std::string_view kScramPassword = "scram_pw";
inline constexpr std::string_view kMd5User = "md5_user";
inline constexpr std::string_view kMd5Password = "md5_pw";
inline constexpr std::string_view kAppUser = "app_user";
inline constexpr std::string_view kSuperuser = "postgres";

// A real, disposable PostgreSQL 15 cluster: its own temp dir, a free TCP
// port on 127.0.0.1 and a unix socket in the temp dir. Durability is off.
//
// The postmaster is started directly as a child of the test process (not
// daemonised by pg_ctl) with a parent-death signal, so a test binary that
// crashes or is killed by ctest's timeout takes its server down with it.
// Consequence: create a PgServer on a thread that outlives it, normally
// the main thread.
//
// Replication: the superuser may open replication connections over the
// unix socket and 127.0.0.1 (trust, like everything else here), and
// PostgreSQL 15's defaults of 10 WAL senders and 10 replication slots are
// left as they are. A PgServer made with StandbyOf is a streaming standby
// of another; replication.h sets up logical replication between two.
class PgServer {
 public:
  struct Options {
    // A standby needs at least its primary's value to start.
    int max_connections = 300;
    // "replica" (PostgreSQL's default) serves physical standbys; a source
    // of logical replication needs "logical".
    std::string wal_level = "replica";
    // Lines appended to postgresql.conf, e.g. "log_statement = 'all'".
    std::vector<std::string> extra_settings;
    // Set: ssl = on with this certificate and key (PEM), over TCP; clients
    // may still connect without TLS.
    struct Tls {
      std::string certificate_pem;
      std::string key_pem;
    };
    std::optional<Tls> tls;
    // pg_hba.conf lines put before the standard ones (the first match
    // wins), e.g. "hostnossl tls_only all 127.0.0.1/32 reject".
    std::vector<std::string> hba_first;
    std::chrono::seconds start_timeout{60};
  };

  // Names the running server a standby is made from.
  struct StandbyOf {
    const PgServer& primary;
  };

  // Creates and starts the cluster. Throws std::runtime_error carrying the
  // output of initdb or the server log when that fails.
  PgServer();
  explicit PgServer(Options options);

  // A streaming standby of `standby_of.primary`, made as an operator
  // would with `pg_basebackup -R`: a base backup over TCP, standby.signal,
  // primary_conninfo in postgresql.auto.conf, hot standby on. It has its
  // own port and socket dir; the rest of the primary's postgresql.conf
  // (its extra_settings too) is copied, and this server's options apply on
  // top (wal_level included). The roles come with the data. Returns once
  // the WAL receiver is streaming; throws std::runtime_error with
  // pg_basebackup's output or the server logs when it does not get there
  // within options.start_timeout. `SELECT pg_promote()` makes it a primary.
  explicit PgServer(StandbyOf standby_of);
  PgServer(StandbyOf standby_of, Options options);
  ~PgServer();

  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  uint16_t port() const { return port_; }
  const std::string& socket_dir() const { return dir_.path(); }
  const std::string& data_dir() const { return data_dir_; }
  std::string host() const { return "127.0.0.1"; }
  // "127.0.0.1:PORT", as pgvalve's --upstream wants it.
  std::string Upstream() const;

  // libpq connection string over TCP. `extra` is appended verbatim
  // ("password=x sslmode=disable") and wins over earlier keys.
  std::string ConnString(std::string_view database = "postgres",
                         std::string_view user = kSuperuser, std::string_view extra = "") const;
  // Same over the unix socket, where every role is trusted.
  std::string SocketConnString(std::string_view database = "postgres",
                               std::string_view user = kSuperuser,
                               std::string_view extra = "") const;

  // Runs one or more statements as the superuser. Throws PgError on failure.
  void RunSql(const std::string& sql, std::string_view database = "postgres") const;
  // First column of the first row of `sql`, run as the superuser.
  std::string QueryScalar(const std::string& sql, std::string_view database = "postgres") const;
  void CreateDatabase(std::string_view name) const;
  // pg_is_in_recovery(): a standby not (yet) promoted.
  bool IsInRecovery() const;

  // Runs `sql`, a query returning one boolean, every 20 ms until it returns
  // true. An error (a standby not yet accepting connections, a view that
  // has no row yet) counts as "not yet". Throws std::runtime_error naming
  // `sql`, what it last returned and the server log once `timeout` passes.
  void WaitUntilTrue(const std::string& sql, std::chrono::milliseconds timeout,
                     std::string_view database = "postgres") const;

  // The last lines of the server log, for failure messages.
  std::string LogTail(size_t max_lines = 40) const;

  // How StopPostmaster stops the server: fast sends each backend's client a
  // FATAL 57P01; immediate only a WARNING before the connection ends.
  enum class StopMode { kFast, kImmediate };
  // Stops the server but keeps the cluster; StartPostmaster brings it back
  // on the same port. For tests of an upstream going away.
  void StopPostmaster(StopMode mode = StopMode::kFast);
  void StartPostmaster();
  bool IsRunning() const { return postmaster_pid_ > 0; }
  // The postmaster's pid while it runs, -1 otherwise; for tests that signal
  // it (SIGSTOP, SIGCONT). Its backends are its children.
  pid_t postmaster_pid() const { return postmaster_pid_; }

  // Stops the server and deletes the cluster. Idempotent; the destructor
  // calls it.
  void Stop();

  // Absolute path of a PostgreSQL 15 program ("psql", "pgbench", ...).
  // $PGVALVE_PG_BINDIR overrides the Debian location.
  static std::string BinPath(std::string_view program);

 private:
  void InitCluster();
  void BaseBackupFrom(const PgServer& primary);
  void WriteConfig();
  // StartPostmaster, moving to another free port when this one was taken.
  void StartOnFreePort();
  void CreateRoles();

  Options options_;
  std::optional<RunAs> run_as_;
  TempDir dir_;
  std::string data_dir_;
  std::string log_path_;
  uint16_t port_ = 0;
  pid_t postmaster_pid_ = -1;
};

}  // namespace pgvalve::test
