#include "tests/e2e/fault_test_support.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tests/support/free_port.h"

namespace pgvalve::test {

FaultPgvalve::FaultPgvalve(const PgServer& pg, FaultPgvalveOptions options)
    : pg_(pg), dir_("pgvalve-fault"), listen_port_(FreeTcpPort()), admin_port_(FreeTcpPort()) {
  while (admin_port_ == listen_port_) admin_port_ = FreeTcpPort();
  config_path_ = dir_.path() + "/pgvalve.toml";
  WriteConfig(options);
  process_ = std::make_unique<PgvalveProcess>(PgvalveProcess::BinaryPath(),
                                              std::vector<std::string>{"--config", config_path_},
                                              listen_port_);
  // The admin listener opens with the client one; wait for it as well.
  const Deadline deadline = DeadlineAfter(PgvalveProcess::kReadyTimeout);
  if (!PollUntil([&] { return CanConnectTcp(admin_port_); }, deadline)) {
    throw std::runtime_error("pgvalve's admin port never opened; log:\n" + process_->LogTail());
  }
}

std::string FaultPgvalve::ConfigText(const FaultPgvalveOptions& options) const {
  std::ostringstream toml;
  toml << "log_level = \"info\"\n"
       << "\n[proxy]\n"
       << "listen = [\"127.0.0.1:" << listen_port_ << "\"]\n"
       << "max_client_connections = " << options.max_client_connections << "\n"
       << "startup_timeout = \"" << options.startup_timeout << "\"\n"
       << "\n[admin]\n"
       << "listen = [\"127.0.0.1:" << admin_port_ << "\"]\n"
       << "\n[[admin.users]]\n"
       << "name = \"" << kFaultAdminUser << "\"\n"
       << "password = \"" << kFaultAdminPassword << "\"\n"
       << "role = \"admin\"\n"
       << "\n[upstreams.blue]\n"
       << "host = \"" << pg_.host() << "\"\n"
       << "port = " << pg_.port() << "\n"
       << "connect_timeout = \"" << options.connect_timeout << "\"\n"
       << (options.control_connection ? "control_user = \"postgres\"\n" : "")
       << "\n[databases.\"*\"]\n"
       << "upstream = \"blue\"\n";
  return toml.str();
}

void FaultPgvalve::WriteConfigText(const std::string& text) {
  const std::string temporary = config_path_ + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + temporary);
  }
  if (std::rename(temporary.c_str(), config_path_.c_str()) != 0) {
    throw std::runtime_error("cannot rename " + temporary);
  }
}

std::string FaultPgvalve::ClientConnString(std::string_view database,
                                           std::string_view extra) const {
  std::string conninfo = "host=127.0.0.1 port=" + std::to_string(listen_port_) +
                         " dbname=" + QuoteConnInfoValue(database) +
                         " user=" + std::string(kSuperuser);
  if (!extra.empty()) conninfo.append(" ").append(extra);
  return conninfo;
}

PgConn FaultPgvalve::ConnectAdmin() const {
  return Connect("host=127.0.0.1 port=" + std::to_string(admin_port_) + " dbname=pgvalve user=" +
                 std::string(kFaultAdminUser) + " password=" + std::string(kFaultAdminPassword));
}

std::string RequestEnd::Describe() const {
  if (!ended) return "still running";
  std::string text = connection_lost ? "connection lost" : "completed";
  if (!sqlstate.empty() || !message.empty()) text += " [" + sqlstate + "] " + message;
  return text;
}

RequestEnd AwaitRequestEnd(PGconn* conn, Deadline deadline) {
  RequestEnd end;
  auto take_results = [&] {
    // PQgetResult does not block while PQisBusy is false; on a lost
    // connection it hands out one error result and then null.
    while (!PQisBusy(conn)) {
      PgResult result(PQgetResult(conn));
      if (!result) return true;
      if (PQresultStatus(result.get()) == PGRES_FATAL_ERROR && end.message.empty()) {
        end.sqlstate = SqlState(result.get());
        end.message = PQresultErrorMessage(result.get());
      }
    }
    return false;
  };
  while (!take_results()) {
    if (!WaitReadable(conn, deadline)) return end;
    if (PQconsumeInput(conn) == 0) {
      if (end.message.empty()) end.message = ErrorText(conn);
      take_results();
      break;
    }
  }
  end.ended = true;
  end.connection_lost = PQstatus(conn) == CONNECTION_BAD;
  return end;
}

bool AwaitConnectionClosed(PGconn* conn, Deadline deadline) {
  while (PQstatus(conn) != CONNECTION_BAD) {
    if (!WaitReadable(conn, deadline)) return false;
    if (PQconsumeInput(conn) == 0) return true;
  }
  return true;
}

long ResidentKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return 0;
}

int RegisteredSessions(PGconn* admin) {
  PgResult result = ExecOk(admin, "SHOW CLIENTS");
  return PQntuples(result.get());
}

std::string SessionColumn(PGconn* admin, std::string_view application_name,
                          std::string_view column) {
  PgResult result = ExecOk(admin, "SHOW CLIENTS");
  const int name_field = PQfnumber(result.get(), "application_name");
  const int wanted = PQfnumber(result.get(), std::string(column).c_str());
  if (name_field < 0 || wanted < 0) {
    throw std::runtime_error("SHOW CLIENTS has no column " + std::string(column));
  }
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    if (application_name == PQgetvalue(result.get(), row, name_field)) {
      return PQgetvalue(result.get(), row, wanted);
    }
  }
  return "";
}

int ClientBackends(const PgServer& pg, std::string_view condition) {
  ConnectOutcome monitor = TryConnect(pg.SocketConnString("postgres", kSuperuser,
                                                          "application_name=fault_monitor"));
  if (!monitor.ok()) return -1;
  const std::string sql =
      "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> "
      "pg_backend_pid() AND (" + std::string(condition) + ")";
  PgResult result = Exec(monitor.conn.get(), sql);
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) return -1;
  return std::stoi(PQgetvalue(result.get(), 0, 0));
}

int BackendsOf(const PgServer& pg, std::string_view application_name) {
  return ClientBackends(pg, "application_name = '" + std::string(application_name) + "'");
}

std::string ShowBackends(PGconn* admin, std::string_view database) {
  PgResult result = Exec(admin, "SHOW BACKENDS " + std::string(database));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    return "ERROR " + SqlState(result.get()) + ": " + PQresultErrorMessage(result.get());
  }
  std::string lines;
  const int client = PQfnumber(result.get(), "pgvalve_client");
  const int pid = PQfnumber(result.get(), "pid");
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    lines += std::string(PQgetvalue(result.get(), row, client)) + ":" +
             PQgetvalue(result.get(), row, pid) + "\n";
  }
  return lines;
}

size_t CountOccurrences(std::string_view text, std::string_view needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

int32_t BackendPid(PGconn* conn) {
  return static_cast<int32_t>(std::stol(ScalarString(conn, "SELECT pg_backend_pid()")));
}

std::unique_ptr<PgServer>& FaultTest::SharedServer() {
  static std::unique_ptr<PgServer> server;
  return server;
}

void FaultTest::StartWithOwnServer(FaultPgvalveOptions options) {
  own_pg_ = std::make_unique<PgServer>();
  pg_ = own_pg_.get();
  pgvalve_ = std::make_unique<FaultPgvalve>(*pg_, std::move(options));
}

void FaultTest::StartOnSharedServer(FaultPgvalveOptions options) {
  if (!SharedServer()) SharedServer() = std::make_unique<PgServer>();
  pg_ = SharedServer().get();
  pgvalve_ = std::make_unique<FaultPgvalve>(*pg_, std::move(options));
}

void FaultTest::TearDown() {
  if (pgvalve_) {
    EXPECT_EQ(pgvalve_->process().StopAndCheck(), "")
        << "pgvalve did not come through the fault in one piece";
  }
  pgvalve_.reset();
  own_pg_.reset();
  pg_ = nullptr;
}

void FaultTest::TearDownTestSuite() { SharedServer().reset(); }

PgConn FaultTest::ConnectClient(std::string_view application_name) {
  return Connect(pgvalve().ClientConnString(
      "postgres", "application_name=" + std::string(application_name)));
}

}  // namespace pgvalve::test
