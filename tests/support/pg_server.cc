#include "tests/support/pg_server.h"
#include "tests/support/test_certificates.h"

#include <libpq-fe.h>
#include <pwd.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/free_port.h"
#include "tests/support/libpq_helpers.h"
#include "tests/support/log_file.h"

namespace pgvalve::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// PostgreSQL refuses to run as root; as root we hand everything to the
// `postgres` user that Debian's package creates.
std::optional<RunAs> ServerIdentity() { return PostgresUserWhenRoot("PgServer"); }

void AppendToFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app);
  out << text;
  if (!out) throw std::runtime_error("PgServer: cannot write " + path);
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("PgServer: cannot write " + path);
}

}  // namespace

std::string PgServer::BinPath(std::string_view program) {
  const char* override_dir = std::getenv("PGVALVE_PG_BINDIR");
  std::string dir = override_dir ? override_dir : "/usr/lib/postgresql/15/bin";
  return dir + "/" + std::string(program);
}

PgServer::PgServer() : PgServer(Options{}) {}

PgServer::PgServer(Options options)
    : options_(std::move(options)),
      run_as_(ServerIdentity()),
      dir_("pgvalve-pg", UidOf(run_as_)),
      data_dir_(dir_.path() + "/data"),
      log_path_(dir_.path() + "/postgresql.log"),
      port_(FreeTcpPort()) {
  InitCluster();
  WriteConfig();
  StartOnFreePort();
  CreateRoles();
}

PgServer::PgServer(StandbyOf standby_of) : PgServer(standby_of, Options{}) {}

PgServer::PgServer(StandbyOf standby_of, Options options)
    : options_(std::move(options)),
      run_as_(ServerIdentity()),
      dir_("pgvalve-pg", UidOf(run_as_)),
      data_dir_(dir_.path() + "/data"),
      log_path_(dir_.path() + "/postgresql.log"),
      port_(FreeTcpPort()) {
  const PgServer& primary = standby_of.primary;
  if (options_.max_connections < primary.options_.max_connections) {
    // Hot standby refuses to start with less than the primary has.
    throw std::invalid_argument("PgServer: a standby needs max_connections >= its primary's (" +
                                std::to_string(primary.options_.max_connections) + ")");
  }
  BaseBackupFrom(primary);
  WriteConfig();
  StartOnFreePort();
  // Ready for queries is not yet following: the WAL receiver connects to
  // the primary after the standby reached a consistent state.
  try {
    WaitUntilTrue(
        "SELECT EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming')",
        options_.start_timeout);
  } catch (const std::runtime_error& error) {
    StopPostmaster(StopMode::kImmediate);
    throw std::runtime_error(std::string("PgServer: the standby is not streaming: ") +
                             error.what() + "\nprimary's log:\n" + primary.LogTail());
  }
}

PgServer::~PgServer() { Stop(); }

void PgServer::StartOnFreePort() {
  for (int attempt = 1;; ++attempt) {
    try {
      StartPostmaster();
      return;
    } catch (const std::runtime_error&) {
      // Another process can take the port between FreeTcpPort() and the
      // server's bind; a fresh port is worth a couple more tries.
      if (attempt == 3 || LogTail().find("could not bind") == std::string::npos) throw;
      port_ = FreeTcpPort();
      AppendToFile(data_dir_ + "/postgresql.conf", "port = " + std::to_string(port_) + "\n");
    }
  }
}

void PgServer::InitCluster() {
  SpawnOptions spawn;
  spawn.run_as = run_as_;
  const CommandResult result = RunCommand(
      {BinPath("initdb"), "-D", data_dir_, "-U", std::string(kSuperuser), "-A", "trust",
       "--encoding=UTF8", "--locale=C", "--no-sync"},
      spawn);
  if (!result.Succeeded()) {
    throw std::runtime_error("PgServer: initdb " + DescribeWaitStatus(result.wait_status) +
                             ":\n" + result.output);
  }
}

void PgServer::BaseBackupFrom(const PgServer& primary) {
  // Over TCP, as a standby on another host would connect; -R writes
  // standby.signal and primary_conninfo. A fast checkpoint starts the copy
  // at once instead of after a spread one.
  SpawnOptions spawn;
  spawn.run_as = run_as_;
  spawn.parent_death_signal = SIGTERM;
  const CommandResult result = RunCommand(
      {BinPath("pg_basebackup"), "-D", data_dir_, "-R", "-X", "stream", "--checkpoint=fast",
       "--no-sync", "-h", primary.host(), "-p", std::to_string(primary.port()), "-U",
       std::string(kSuperuser)},
      spawn);
  if (!result.Succeeded()) {
    throw std::runtime_error("PgServer: pg_basebackup " + DescribeWaitStatus(result.wait_status) +
                             ":\n" + result.output + "\nprimary's log:\n" + primary.LogTail());
  }
}

void PgServer::WriteConfig() {
  // Appended, so these win over initdb's defaults and, in a standby, over
  // the primary's port and socket dir that the base backup copied.
  // Durability is off because the cluster dies with the test.
  std::ostringstream conf;
  conf << "\n# pgvalve test settings\n"
       << "listen_addresses = '127.0.0.1'\n"
       << "port = " << port_ << "\n"
       << "unix_socket_directories = '" << dir_.path() << "'\n"
       << "max_connections = " << options_.max_connections << "\n"
       << "wal_level = " << options_.wal_level << "\n"
       << "fsync = off\n"
       << "synchronous_commit = off\n"
       << "full_page_writes = off\n"
       << "shared_buffers = 128MB\n"
       << "log_line_prefix = '%m [%p] %q%u@%d '\n"
       << "log_connections = on\n"
       << "log_disconnections = on\n";
  if (options_.tls) {
    // The key must belong to the server's user and be private to it.
    const int uid = run_as_ ? static_cast<int>(run_as_->uid) : -1;
    const int gid = run_as_ ? static_cast<int>(run_as_->gid) : -1;
    WriteSecretFile(data_dir_ + "/server.crt", options_.tls->certificate_pem, 0644, uid, gid);
    WriteSecretFile(data_dir_ + "/server.key", options_.tls->key_pem, 0600, uid, gid);
    conf << "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n";
  }
  for (const std::string& line : options_.extra_settings) conf << line << "\n";
  AppendToFile(data_dir_ + "/postgresql.conf", conf.str());

  // First match wins: the two password roles are checked before the
  // catch-all trust line. "all" does not match physical replication
  // connections (base backups, standbys), so they have lines of their own;
  // logical replication connects to a database and matches "all".
  std::string hba_first;
  for (const std::string& line : options_.hba_first) hba_first += line + "\n";
  WriteFile(data_dir_ + "/pg_hba.conf",
            hba_first +
            "local all all trust\n"
            "local replication postgres trust\n"
            "host replication postgres 127.0.0.1/32 trust\n"
            "host all scram_user 127.0.0.1/32 scram-sha-256\n"
            "host all md5_user 127.0.0.1/32 md5\n"
            "host all all 127.0.0.1/32 trust\n");
}

void PgServer::StartPostmaster() {
  if (IsRunning()) return;
  SpawnOptions spawn;
  spawn.run_as = run_as_;
  spawn.working_dir = dir_.path();
  // SIGQUIT is PostgreSQL's immediate shutdown: right for an orphan.
  spawn.parent_death_signal = SIGQUIT;
  postmaster_pid_ = SpawnProcess({BinPath("postgres"), "-D", data_dir_}, log_path_, spawn);

  // PQping reports "rejecting" during startup and "no response" before the
  // socket exists; only OK means ready.
  const std::string conninfo = ConnString("postgres", kSuperuser, "connect_timeout=2");
  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  for (;;) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return;
    if (std::optional<int> status = WaitForExit(postmaster_pid_, milliseconds(0))) {
      postmaster_pid_ = -1;
      throw std::runtime_error("PgServer: postgres " + DescribeWaitStatus(*status) +
                               " during startup; server log:\n" + LogTail());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      StopPostmaster();
      throw std::runtime_error("PgServer: postgres not ready after " +
                               std::to_string(options_.start_timeout.count()) +
                               "s; server log:\n" + LogTail());
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

void PgServer::CreateRoles() {
  // password_encryption decides how CREATE ROLE stores the password, and
  // so which method the server can use for that role.
  RunSql(
      "SET password_encryption = 'scram-sha-256';"
      "CREATE ROLE scram_user LOGIN PASSWORD 'scram_pw';"
      "SET password_encryption = 'md5';"
      "CREATE ROLE md5_user LOGIN PASSWORD 'md5_pw';"
      "CREATE ROLE app_user LOGIN;");
  // Since PostgreSQL 15 only the owner may create objects in schema public;
  // granting it in template1 too covers databases made by CreateDatabase.
  const std::string grant = "GRANT CREATE ON SCHEMA public TO scram_user, md5_user, app_user";
  RunSql(grant, "template1");
  RunSql(grant, "postgres");
}

std::string PgServer::Upstream() const { return host() + ":" + std::to_string(port_); }

std::string PgServer::ConnString(std::string_view database, std::string_view user,
                                 std::string_view extra) const {
  std::string conninfo = "host=" + host() + " port=" + std::to_string(port_) +
                         " dbname=" + QuoteConnInfoValue(database) +
                         " user=" + QuoteConnInfoValue(user);
  if (!extra.empty()) conninfo.append(" ").append(extra);
  return conninfo;
}

std::string PgServer::SocketConnString(std::string_view database, std::string_view user,
                                       std::string_view extra) const {
  std::string conninfo = "host=" + QuoteConnInfoValue(socket_dir()) +
                         " port=" + std::to_string(port_) +
                         " dbname=" + QuoteConnInfoValue(database) +
                         " user=" + QuoteConnInfoValue(user);
  if (!extra.empty()) conninfo.append(" ").append(extra);
  return conninfo;
}

void PgServer::RunSql(const std::string& sql, std::string_view database) const {
  PgConn conn = Connect(SocketConnString(database));
  ExecOk(conn.get(), sql);
}

std::string PgServer::QueryScalar(const std::string& sql, std::string_view database) const {
  PgConn conn = Connect(SocketConnString(database));
  return ScalarString(conn.get(), sql);
}

void PgServer::CreateDatabase(std::string_view name) const {
  RunSql("CREATE DATABASE " + QuoteIdentifier(name));
}

bool PgServer::IsInRecovery() const { return QueryScalar("SELECT pg_is_in_recovery()") == "t"; }

void PgServer::WaitUntilTrue(const std::string& sql, milliseconds timeout,
                             std::string_view database) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // One connection for the whole wait, so that the log tail of a timeout
  // is not all this loop's connects and disconnects.
  PgConn conn;
  std::string last;
  for (;;) {
    try {
      if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
        conn = Connect(SocketConnString(database));
      }
      const std::string value = ScalarString(conn.get(), sql);
      if (value == "t") return;
      last = value.empty() ? "NULL" : value;
    } catch (const PgError& error) {
      last = error.what();
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("PgServer: not true after " + std::to_string(timeout.count()) +
                               " ms: " + sql + "\nlast: " + last + "\nserver log:\n" + LogTail());
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

std::string PgServer::LogTail(size_t max_lines) const {
  return TailOfFile(log_path_, max_lines);
}

void PgServer::StopPostmaster(StopMode mode) {
  if (!IsRunning()) return;
  // SIGINT is a fast shutdown (what `pg_ctl stop -m fast` sends); SIGQUIT
  // an immediate one (`-m immediate`), also for a server that hangs in the
  // fast one.
  ::kill(postmaster_pid_, mode == StopMode::kFast ? SIGINT : SIGQUIT);
  if (!WaitForExit(postmaster_pid_, seconds(30))) {
    StopProcess(postmaster_pid_, SIGQUIT, seconds(5));
  }
  postmaster_pid_ = -1;
}

void PgServer::Stop() {
  StopPostmaster();
  dir_.Remove();
}

}  // namespace pgvalve::test
