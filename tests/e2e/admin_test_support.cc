#include "tests/e2e/admin_test_support.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tests/support/free_port.h"
#include "tests/support/subprocess.h"

namespace pgvalve::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string TomlString(std::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
  quoted.push_back('"');
  return quoted;
}

std::string ResultField(const PGresult* result, int field) {
  const char* value = PQresultErrorField(result, field);
  return value ? value : "";
}

QueryOutcome OutcomeOf(PGconn* conn, PgResult result) {
  QueryOutcome outcome;
  outcome.finished = steady_clock::now();
  if (!result) result.reset(PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR));
  outcome.status = PQresultStatus(result.get());
  if (outcome.ok()) {
    outcome.table = ResultTable(result.get());
    return outcome;
  }
  outcome.sqlstate = ResultField(result.get(), PG_DIAG_SQLSTATE);
  outcome.message = ResultField(result.get(), PG_DIAG_MESSAGE_PRIMARY);
  outcome.detail = ResultField(result.get(), PG_DIAG_MESSAGE_DETAIL);
  if (outcome.message.empty()) {
    outcome.message = PQresultErrorMessage(result.get());
    if (outcome.message.empty()) outcome.message = PQerrorMessage(conn);
  }
  return outcome;
}

// The last result of a query; earlier ones (of a multi-statement query)
// are dropped, but an error among them wins, as with PQexec.
PgResult LastResult(PGconn* conn) {
  PgResult last;
  PgResult error;
  while (PGresult* next = PQgetResult(conn)) {
    PgResult result(next);
    if (PQresultStatus(result.get()) == PGRES_FATAL_ERROR && !error) {
      error = std::move(result);
    } else {
      last = std::move(result);
    }
  }
  return error ? std::move(error) : std::move(last);
}

void ShutDownSocket(PGconn* conn) {
  const int fd = PQsocket(conn);
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

std::string Lowercase(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

}  // namespace

std::string UpstreamToml(std::string_view name, const PgServer& pg, std::string_view control_user,
                         std::string_view control_dbname) {
  std::ostringstream toml;
  toml << "\n[upstreams." << name << "]\n"
       << "host = " << TomlString(pg.host()) << "\n"
       << "port = " << pg.port() << "\n";
  if (!control_user.empty()) toml << "control_user = " << TomlString(control_user) << "\n";
  if (!control_dbname.empty()) toml << "control_dbname = " << TomlString(control_dbname) << "\n";
  return toml.str();
}

std::string RouteToml(std::string_view database, std::string_view upstream) {
  return "\n[databases." + TomlString(database) + "]\nupstream = " + TomlString(upstream) + "\n";
}

AdminPgvalve::AdminPgvalve(const PgServer& pg, AdminPgvalveOptions options)
    : pg_(pg),
      fd_hard_limit_(options.fd_hard_limit),
      fd_soft_limit_(options.fd_soft_limit),
      // Not "pgvalve-admin": its random suffix could start with "pw", and
      // then every path SHOW CONFIG prints would contain the password
      // "admin-pw" that ShowConfigNeverShowsAPassword looks for.
      dir_("pgvalve-console"), listen_port_(FreeTcpPort()), admin_port_(FreeTcpPort()) {
  while (admin_port_ == listen_port_) admin_port_ = FreeTcpPort();
  config_path_ = dir_.path() + "/pgvalve.toml";
  state_path_ = dir_.path() + "/state.toml";
  WriteConfig(options);
  Start();
}

void AdminPgvalve::WriteConfig(const AdminPgvalveOptions& options) {
  std::ostringstream toml;
  toml << "log_level = \"info\"\n"
       << options.top_toml
       << "\n[proxy]\n"
       << "listen = [\"127.0.0.1:" << listen_port_ << "\"]\n"
       << "hold_timeout = " << TomlString(options.hold_timeout) << "\n"
       << options.proxy_toml
       << "\n[admin]\n"
       << "listen = [\"127.0.0.1:" << admin_port_ << "\"]\n"
       << "state_file = " << TomlString(state_path_) << "\n"
       << options.admin_toml
       << "\n[[admin.users]]\n"
       << "name = " << TomlString(kAdminUser) << "\n"
       << "password = " << TomlString(kAdminPassword) << "\n"
       << "role = \"admin\"\n"
       << "\n[[admin.users]]\n"
       << "name = " << TomlString(kMonitorUser) << "\n"
       << "password = " << TomlString(kMonitorPassword) << "\n"
       << "role = \"monitor\"\n"
       << UpstreamToml("blue", pg_)
       << (options.route_every_database ? RouteToml("*", "blue") : std::string())
       << options.extra_toml;
  // Written aside and renamed, so a reload never reads half a file.
  const std::string temporary = config_path_ + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << toml.str();
    if (!out) throw std::runtime_error("cannot write " + temporary);
  }
  if (std::rename(temporary.c_str(), config_path_.c_str()) != 0) {
    throw std::runtime_error("cannot rename " + temporary);
  }
}

void AdminPgvalve::Start() {
  if (IsRunning()) return;
  process_.reset();
  if (fd_hard_limit_ == 0 && fd_soft_limit_ == 0) {
    process_ = std::make_unique<PgvalveProcess>(PgvalveProcess::BinaryPath(),
                                                std::vector<std::string>{"--config", config_path_},
                                                listen_port_);
  } else {
    // The shell sets the limits and execs pgvalve, which keeps its pid.
    std::string limits;
    // Soft first: a hard limit below the current soft one is refused.
    if (fd_soft_limit_ != 0) limits += "ulimit -Sn " + std::to_string(fd_soft_limit_) + " && ";
    if (fd_hard_limit_ != 0) limits += "ulimit -Hn " + std::to_string(fd_hard_limit_) + " && ";
    process_ = std::make_unique<PgvalveProcess>(
        "/bin/sh",
        std::vector<std::string>{"-c", limits + "exec \"$0\" \"$@\"", PgvalveProcess::BinaryPath(),
                                 "--config", config_path_},
        listen_port_);
  }
  // The admin listener opens after the client one.
  const auto deadline = steady_clock::now() + PgvalveProcess::kReadyTimeout;
  while (!CanConnectTcp(admin_port_)) {
    if (!process_->IsRunning() || steady_clock::now() >= deadline) {
      throw std::runtime_error("pgvalve's admin port " + std::to_string(admin_port_) +
                               " did not open; its log:\n" + process_->Log());
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

std::string AdminPgvalve::StopAndCheck() {
  if (!process_) return "";
  return process_->StopAndCheck();
}

std::string AdminPgvalve::ClientConnString(std::string_view database, std::string_view user,
                                           std::string_view extra) const {
  std::string conninfo = "host=127.0.0.1 port=" + std::to_string(listen_port_) +
                         " dbname=" + QuoteConnInfoValue(database) +
                         " user=" + QuoteConnInfoValue(user);
  if (!extra.empty()) conninfo.append(" ").append(extra);
  return conninfo;
}

std::string AdminPgvalve::AdminConnString(std::string_view user, std::string_view password,
                                          std::string_view database) const {
  return "host=127.0.0.1 port=" + std::to_string(admin_port_) +
         " dbname=" + QuoteConnInfoValue(database) + " user=" + QuoteConnInfoValue(user) +
         " password=" + QuoteConnInfoValue(password);
}

ResultTable::ResultTable(const PGresult* result) {
  const int fields = PQnfields(result);
  for (int i = 0; i < fields; ++i) columns_.emplace_back(PQfname(result, i));
  const int tuples = PQntuples(result);
  for (int row = 0; row < tuples; ++row) {
    auto& values = rows_.emplace_back();
    for (int i = 0; i < fields; ++i) {
      if (PQgetisnull(result, row, i)) {
        values.emplace_back(std::nullopt);
      } else {
        values.emplace_back(PQgetvalue(result, row, i));
      }
    }
  }
}

bool ResultTable::HasColumn(std::string_view column) const {
  return std::find(columns_.begin(), columns_.end(), column) != columns_.end();
}

std::optional<std::string> ResultTable::Get(size_t row, std::string_view column) const {
  const auto found = std::find(columns_.begin(), columns_.end(), column);
  if (found == columns_.end()) {
    throw std::out_of_range("no column \"" + std::string(column) + "\" in\n" + ToString());
  }
  if (row >= rows_.size()) {
    throw std::out_of_range("no row " + std::to_string(row) + " in\n" + ToString());
  }
  return rows_[row][static_cast<size_t>(found - columns_.begin())];
}

std::string ResultTable::Text(size_t row, std::string_view column) const {
  return Get(row, column).value_or("<NULL>");
}

std::optional<size_t> ResultTable::FindRow(std::string_view column, std::string_view value) const {
  for (size_t row = 0; row < rows_.size(); ++row) {
    if (Get(row, column) == std::optional<std::string>(value)) return row;
  }
  return std::nullopt;
}

std::string ResultTable::ToString() const {
  std::string text;
  for (size_t i = 0; i < columns_.size(); ++i) text += (i ? " | " : "") + columns_[i];
  text += "\n";
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) text += (i ? " | " : "") + row[i].value_or("<NULL>");
    text += "\n";
  }
  return text;
}

std::string QueryOutcome::Describe() const {
  if (ok()) return "ok";
  std::string text = std::string(PQresStatus(status)) + " " + sqlstate + ": " + message;
  if (!detail.empty()) text += " (DETAIL: " + detail + ")";
  return text;
}

QueryOutcome RunQuery(PGconn* conn, const std::string& sql) {
  if (!PQsendQuery(conn, sql.c_str())) return OutcomeOf(conn, nullptr);
  return OutcomeOf(conn, LastResult(conn));
}

QueryOutcome RunQueryParams(PGconn* conn, const std::string& sql,
                            const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const std::string& param : params) values.push_back(param.c_str());
  PgResult result(PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0));
  return OutcomeOf(conn, std::move(result));
}

std::vector<PgResult> ExecAll(PGconn* conn, const std::string& sql) {
  std::vector<PgResult> results;
  if (!PQsendQuery(conn, sql.c_str())) {
    results.emplace_back(PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR));
    return results;
  }
  while (PGresult* next = PQgetResult(conn)) results.emplace_back(next);
  return results;
}

ResultTable QueryTable(PGconn* conn, const std::string& sql) {
  PgResult result = ExecOk(conn, sql);
  return ResultTable(result.get());
}

Background<QueryOutcome> QueryInBackground(PGconn* conn, std::string sql) {
  return Background<QueryOutcome>([conn, sql = std::move(sql)] { return RunQuery(conn, sql); },
                                  [conn] { ShutDownSocket(conn); });
}

Background<QueryOutcome> QueryParamsInBackground(PGconn* conn, std::string sql,
                                                 std::vector<std::string> params) {
  return Background<QueryOutcome>(
      [conn, sql = std::move(sql), params = std::move(params)] {
        return RunQueryParams(conn, sql, params);
      },
      [conn] { ShutDownSocket(conn); });
}

Background<ConnectOutcome> ConnectInBackground(std::string conninfo) {
  // TryConnect gives up by itself after kConnectTimeout.
  return Background<ConnectOutcome>(
      [conninfo = std::move(conninfo)] { return TryConnect(conninfo); }, {});
}

NoticeLog::NoticeLog(PGconn* conn) { PQsetNoticeReceiver(conn, &NoticeLog::Receive, this); }

std::vector<NoticeLog::Notice> NoticeLog::notices() const {
  std::lock_guard lock(mutex_);
  return notices_;
}

void NoticeLog::Receive(void* self, const PGresult* result) {
  auto* log = static_cast<NoticeLog*>(self);
  Notice notice{ResultField(result, PG_DIAG_SEVERITY_NONLOCALIZED),
                ResultField(result, PG_DIAG_SQLSTATE), ResultField(result, PG_DIAG_MESSAGE_PRIMARY),
                ResultField(result, PG_DIAG_MESSAGE_DETAIL), steady_clock::now()};
  std::lock_guard lock(log->mutex_);
  log->notices_.push_back(std::move(notice));
}

bool WaitUntil(const std::function<bool()>& condition, milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  while (!condition()) {
    if (steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

size_t CountOccurrences(std::string_view text, std::string_view needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

namespace {

// The servers shared by the tests of one binary, created on first use.
struct SharedServers {
  std::unique_ptr<PgServer> pg;
  std::unique_ptr<AdminPgvalve> pgvalve;
  std::string startup_error;
  bool started = false;
};

SharedServers& Shared() {
  static SharedServers servers;
  return servers;
}

SharedServers& Running() {
  SharedServers& servers = Shared();
  if (!servers.started) {
    servers.started = true;
    try {
      servers.pg = std::make_unique<PgServer>();
    } catch (const std::exception& error) {
      servers.startup_error = error.what();
    }
  }
  if (!servers.startup_error.empty()) {
    throw std::runtime_error("shared test servers failed to start: " + servers.startup_error);
  }
  return servers;
}

// After the last test, while failures still count: a pgvalve that crashes
// or leaks on shutdown fails the run.
class SharedServersEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    SharedServers& servers = Shared();
    if (servers.pgvalve) {
      const std::string problem = servers.pgvalve->StopAndCheck();
      if (!problem.empty()) ADD_FAILURE() << "shared " << problem;
      servers.pgvalve.reset();
    }
    servers.pg.reset();
  }
};

[[maybe_unused]] ::testing::Environment* const kSharedServersEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedServersEnvironment);

}  // namespace

PgServer& AdminConsoleTest::pg() { return *Running().pg; }

AdminPgvalve& AdminConsoleTest::pgvalve() {
  SharedServers& servers = Running();
  // Created on first use, so that tests that only run pgvalves of their
  // own start no shared one.
  if (!servers.pgvalve) {
    servers.pgvalve = std::make_unique<AdminPgvalve>(*servers.pg, SharedPgvalveOptions(*servers.pg));
  }
  return *servers.pgvalve;
}

void AdminConsoleTest::SetUp() {
  try {
    pg();
    // A pgvalve that died in an earlier test was reported there; this test
    // gets a fresh one.
    if (Shared().pgvalve) Shared().pgvalve->Start();
  } catch (const std::exception& error) {
    GTEST_FAIL() << error.what();
  }
}

void AdminConsoleTest::TearDown() {
  SharedServers& servers = Shared();
  if (servers.pgvalve && !servers.pgvalve->IsRunning()) {
    PgvalveProcess& process = servers.pgvalve->process();
    ADD_FAILURE() << "pgvalve " << DescribeWaitStatus(*process.exit_status())
                  << " during this test\n"
                  << process.SanitizerReport() << "log tail:\n"
                  << process.LogTail();
  }
}

std::string AdminConsoleTest::FreshDatabase(std::string_view suffix) {
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = Lowercase(std::string(test->test_suite_name()) + "_" + test->name());
  // PostgreSQL cuts identifiers at 63 bytes; the counter keeps names unique.
  name = name.substr(0, 50) + "_" + std::to_string(++databases_made_);
  if (!suffix.empty()) name += "_" + std::string(suffix);
  pg().CreateDatabase(name);
  return name;
}

PgConn AdminConsoleTest::ConnectClient(std::string_view database, std::string_view user) {
  return Connect(pgvalve().ClientConnString(database, user));
}

PgConn AdminConsoleTest::ConnectDirect(std::string_view database, std::string_view user) {
  return Connect(pg().ConnString(database, user));
}

PgConn AdminConsoleTest::ConnectAdmin(std::string_view user, std::string_view password) {
  return Connect(pgvalve().AdminConnString(user, password));
}

std::string ClientId(PGconn* admin, PGconn* client) {
  const ResultTable clients = QueryTable(admin, "SHOW CLIENTS");
  const std::optional<size_t> row =
      clients.FindRow("virtual_pid", std::to_string(PQbackendPID(client)));
  if (!row) {
    throw std::runtime_error("no SHOW CLIENTS row with virtual_pid " +
                             std::to_string(PQbackendPID(client)) + ":\n" + clients.ToString());
  }
  return clients.Text(*row, "id");
}

std::string ClientState(PGconn* admin, std::string_view client_id) {
  const ResultTable clients = QueryTable(admin, "SHOW CLIENTS");
  const std::optional<size_t> row = clients.FindRow("id", client_id);
  return row ? clients.Text(*row, "state") : "<no such client>";
}

ResultTable AdminConsoleTest::ShowClients(PGconn* admin) { return QueryTable(admin, "SHOW CLIENTS"); }

std::string AdminConsoleTest::ClientId(PGconn* admin, PGconn* client) {
  return test::ClientId(admin, client);
}

std::string AdminConsoleTest::ClientState(PGconn* admin, std::string_view client_id) {
  return test::ClientState(admin, client_id);
}

bool AdminConsoleTest::WaitForClientState(PGconn* admin, std::string_view client_id,
                                          std::string_view state) {
  return WaitUntil([&] { return ClientState(admin, client_id) == state; });
}

std::string AdminConsoleTest::DatabaseColumn(PGconn* admin, std::string_view database,
                                             std::string_view column) {
  const ResultTable databases = QueryTable(admin, "SHOW DATABASES");
  const std::optional<size_t> row = databases.FindRow("name", database);
  return row ? databases.Text(*row, column) : "<none>";
}

int32_t AdminConsoleTest::BackendPid(PGconn* conn) {
  return std::stoi(ScalarString(conn, "SELECT pg_backend_pid()"));
}

bool AdminConsoleTest::WaitUntilGone(PGconn* direct, int32_t pid) {
  return WaitUntil([&] { return !BackendListed(direct, pid); });
}

void AdminConsoleTest::EnsureDatabase(std::string_view name) {
  if (pg().QueryScalar("SELECT count(*) FROM pg_database WHERE datname = '" + std::string(name) +
                       "'") == "0") {
    pg().CreateDatabase(name);
  }
}

bool AdminConsoleTest::BackendListed(PGconn* direct, int32_t pid) {
  return ScalarString(direct, "SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                                  std::to_string(pid)) != "0";
}

bool AdminConsoleTest::WaitForBackendActive(PGconn* direct, int32_t pid) {
  return WaitUntil([&] {
    return ScalarString(direct, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                "AND pid = " + std::to_string(pid)) == "1";
  });
}

}  // namespace pgvalve::test
