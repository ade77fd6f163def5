#include "tests/e2e/cutover_test_support.h"

#include <iostream>
#include <map>
#include <regex>
#include <sstream>

#include "tests/support/free_port.h"
#include "tests/support/http_client.h"
#include "tests/support/replication.h"

namespace pgvalve::test {

// The admin console's support wants each binary's shared pgvalve; the
// cutover tests start none (every test runs servers of its own).
AdminPgvalveOptions SharedPgvalveOptions(const PgServer&) { return {}; }

namespace {

CutoverRow RowOf(const ResultTable& table, size_t row) {
  CutoverRow values;
  for (const std::string& column : table.columns()) values[column] = table.Text(row, column);
  return values;
}

// The lines of pgvalve's log about the cutover, its holds, and the
// sessions it closed, at most the first 150.
std::string CutoverLogLines(const std::string& log) {
  std::istringstream lines(log);
  std::string text;
  int kept = 0;
  for (std::string line; std::getline(lines, line) && kept < 150;) {
    for (std::string_view word :
         {"cutover", "moved to another server", "held", "hold", "PAUSE", "RESUME"}) {
      if (line.find(word) != std::string::npos) {
        text += line + "\n";
        ++kept;
        break;
      }
    }
  }
  return text;
}

}  // namespace

std::string CutoverTest::HttpToml() {
  http_port_ = FreeTcpPort();
  return "\n[http]\nlisten = [\"127.0.0.1:" + std::to_string(http_port_) + "\"]\nmetrics_auth = false\n";
}

std::string CutoverTest::MetricsPage() const { return HttpGet(http_port_, "/metrics").body; }

void CutoverTest::StartServers(const std::function<void(const PgServer&)>& prepare) {
  blue_ = std::make_unique<PgServer>();
  blue_->CreateDatabase(kApp);
  blue_->RunSql(std::string(kTableT), kApp);
  if (prepare) prepare(*blue_);
  green_ = std::make_unique<PgServer>(PgServer::StandbyOf{*blue_});
  AdminPgvalveOptions options;
  options.route_every_database = false;
  options.extra_toml = UpstreamToml("green", *green_) + RouteToml(kApp, "blue") + HttpToml();
  pgvalve_ = std::make_unique<AdminPgvalve>(*blue_, options);
}

void CutoverTest::TearDown() {
  if (pgvalve_) {
    if (HasFailure() && pgvalve_->IsRunning()) {
      std::cout << "pgvalve's log, what concerns the cutover:\n"
                << CutoverLogLines(pgvalve_->process().Log()) << "pgvalve's log tail:\n"
                << pgvalve_->process().LogTail(30) << "\n";
    }
    EXPECT_EQ(pgvalve_->StopAndCheck(), "");
  }
  pgvalve_.reset();
  green_.reset();
  blue_.reset();
}

void CutoverTest::StartLogicalServers(const std::function<void(const PgServer&)>& prepare) {
  PgServer::Options logical;
  logical.wal_level = "logical";
  blue_ = std::make_unique<PgServer>(logical);
  blue_->CreateDatabase(kApp);
  blue_->RunSql(std::string(kTableT), kApp);
  if (prepare) prepare(*blue_);
  green_ = std::make_unique<PgServer>();
  SetUpLogicalReplication(*blue_, *green_, kApp);
  AdminPgvalveOptions options;
  options.route_every_database = false;
  options.extra_toml = UpstreamToml("green", *green_) + RouteToml(kApp, "blue") + HttpToml();
  pgvalve_ = std::make_unique<AdminPgvalve>(*blue_, options);
}

std::string CutoverTest::ClientConnString() const { return pgvalve_->ClientConnString(kApp); }

PgConn CutoverTest::ConnectClient() const { return Connect(ClientConnString()); }

PgConn CutoverTest::ConnectAdmin() const { return Connect(pgvalve_->AdminConnString()); }

DrainedSession CutoverTest::OpenClient() const { return OpenSession(ClientConnString()); }

void CutoverTest::PauseReplay() {
  green_->QueryScalar("SELECT pg_wal_replay_pause()");
  // Committed synchronously, so green receives it at once and pauses
  // before replaying it, if it has not paused already.
  blue_->RunSql("SET synchronous_commit = on; INSERT INTO t (client, n) VALUES (-1, 0)", kApp);
  green_->WaitUntilTrue("SELECT pg_get_wal_replay_pause_state() = 'paused'", kHangGuard);
}

void CutoverTest::ResumeReplay() {
  green_->QueryScalar("SELECT pg_wal_replay_resume()");
  WaitForReplayCatchUp(*blue_, *green_);
}

int ServerPort(PGconn* conn) { return std::stoi(ScalarString(conn, "SELECT inet_server_port()")); }

std::string AppColumn(PGconn* admin, std::string_view column) {
  const ResultTable databases = QueryTable(admin, "SHOW DATABASES");
  const std::optional<size_t> row = databases.FindRow("name", kApp);
  return row ? databases.Text(*row, column) : "<no row>";
}

std::optional<CutoverRow> CutoverById(PGconn* admin, std::string_view id) {
  const ResultTable cutovers = QueryTable(admin, "SHOW CUTOVERS");
  const std::optional<size_t> row = cutovers.FindRow("id", id);
  if (!row) return std::nullopt;
  return RowOf(cutovers, *row);
}

std::optional<CutoverRow> LatestCutover(PGconn* admin) {
  const ResultTable cutovers = QueryTable(admin, "SHOW CUTOVERS");
  std::optional<size_t> latest;
  int64_t latest_id = -1;
  for (size_t row = 0; row < cutovers.size(); ++row) {
    const int64_t id = std::stoll(cutovers.Text(row, "id"));
    if (id > latest_id) {
      latest_id = id;
      latest = row;
    }
  }
  if (!latest) return std::nullopt;
  return RowOf(cutovers, *latest);
}

std::optional<CutoverRow> WaitForCutover(PGconn* admin, std::string_view id,
                                         const std::function<bool(const CutoverRow&)>& done) {
  std::optional<CutoverRow> row;
  WaitUntil([&] {
    row = CutoverById(admin, id);
    return row && done(*row);
  });
  return row;
}

std::string CutoverIdIn(std::string_view message) {
  std::match_results<std::string_view::const_iterator> match;
  if (!std::regex_search(message.begin(), message.end(), match, std::regex(R"(cutover (\d+))"))) {
    return "";
  }
  return match[1].str();
}

std::optional<size_t> ReportRow(const ResultTable& report, std::string_view item) {
  return report.FindRow("item", item);
}

int SessionsCount(const ResultTable& report, std::string_view word) {
  const std::optional<size_t> row = ReportRow(report, "sessions");
  if (!row) return -1;
  const std::string detail = report.Text(*row, "detail");
  std::smatch match;
  if (!std::regex_search(detail, match, std::regex("(\\d+) " + std::string(word)))) return -1;
  return std::stoi(match[1].str());
}

void Writer::Run(const std::string& conninfo, const std::atomic<bool>& stop) {
  try {
    Loop(conninfo, stop);
  } catch (const std::exception& error) {
    failure = error.what();
  }
  ended = true;
}

void Writer::Loop(const std::string& conninfo, const std::atomic<bool>& stop) {
  PgConn conn;
  std::optional<std::chrono::steady_clock::time_point> error_at;
  for (int64_t n = 1; !stop; ++n) {
    if (!conn) {
      ConnectOutcome connected = TryConnect(conninfo);
      if (!connected.ok()) {
        failure = "reconnect failed: " + connected.error;
        return;
      }
      conn = std::move(connected.conn);
    }
    const std::string sql = "INSERT INTO " + table + " (client, n) VALUES (" + std::to_string(client) + ", " +
                            std::to_string(n) + ")";
    if (!PQsendQuery(conn.get(), sql.c_str())) {
      errors.push_back("cannot send: " + ErrorText(conn.get()));
      if (!error_at) error_at = std::chrono::steady_clock::now();
      conn.reset();
      continue;
    }
    const std::optional<QueryOutcome> outcome = AwaitOutcome(conn.get(), kHangGuard);
    if (!outcome) {
      failure = "no answer to \"" + sql + "\" within the hang guard";
      return;
    }
    if (outcome->ok()) {
      committed.push_back(n);
      ++commits;
      if (error_at && !back_after_seconds) {
        back_after_seconds = SecondsBetween(*error_at, std::chrono::steady_clock::now());
      }
      continue;
    }
    if (outcome->sqlstate == "57P01" || PQstatus(conn.get()) == CONNECTION_BAD) {
      errors.push_back(outcome->Describe());
      if (!error_at) error_at = outcome->finished;
      conn.reset();
      continue;
    }
    failure = "\"" + sql + "\": " + outcome->Describe();
    return;
  }
}

WriterPool::WriterPool(int count, const std::string& conninfo, const std::string& table) {
  for (int i = 0; i < count; ++i) {
    auto writer = std::make_unique<Writer>();
    writer->client = i + 1;
    writer->table = table;
    writers_.push_back(std::move(writer));
  }
  for (auto& writer : writers_) {
    threads_.emplace_back([this, conninfo, writer = writer.get()] { writer->Run(conninfo, stop_); });
  }
}

bool WriterPool::EachCommits(int64_t more) {
  std::vector<int64_t> at_least;
  for (const auto& writer : writers_) at_least.push_back(writer->commits + more);
  return WaitUntil([&] {
    for (size_t i = 0; i < writers_.size(); ++i) {
      if (writers_[i]->ended) return true;
      if (writers_[i]->commits < at_least[i]) return false;
    }
    return true;
  });
}

void WriterPool::Stop() {
  stop_ = true;
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

void ExpectEveryCommitOnceOn(PGconn* target, const WriterPool& pool) {
  for (const auto& writer : pool.writers()) {
    EXPECT_EQ(writer->failure, "") << "client " << writer->client;
    EXPECT_LE(writer->errors.size(), 1u) << "client " << writer->client << " saw:\n"
                                         << ::testing::PrintToString(writer->errors);
    std::cout << "client " << writer->client << ": " << writer->committed.size() << " commits, "
              << writer->errors.size() << " error(s)"
              << (writer->errors.empty() ? "" : ": " + writer->errors[0]);
    if (writer->back_after_seconds) {
      std::cout << "; committing again " << *writer->back_after_seconds << " s later";
    }
    std::cout << "\n";

    const ResultTable rows = QueryTable(target, "SELECT n, count(*) AS copies FROM " + writer->table +
                                                    " WHERE client = " + std::to_string(writer->client) +
                                                    " GROUP BY n");
    std::map<int64_t, int64_t> copies;
    for (size_t row = 0; row < rows.size(); ++row) {
      copies[std::stoll(rows.Text(row, "n"))] = std::stoll(rows.Text(row, "copies"));
    }
    int missing = 0;
    for (int64_t n : writer->committed) {
      if (!copies.contains(n) && ++missing <= 5) {
        ADD_FAILURE() << "client " << writer->client << "'s committed row " << n << " is not on the target";
      }
    }
    EXPECT_EQ(missing, 0) << "client " << writer->client << ": committed rows missing on the target";
    for (const auto& [n, count] : copies) EXPECT_EQ(count, 1) << "client " << writer->client << " row " << n;
  }
}

AdminCommand::AdminCommand(const std::string& conninfo, std::string sql)
    : conn_(Connect(conninfo)) {
  running_ =
      std::make_unique<Background<QueryOutcome>>(QueryInBackground(conn_.get(), std::move(sql)));
}

}  // namespace pgvalve::test
