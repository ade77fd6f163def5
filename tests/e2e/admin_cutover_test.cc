// CUTOVER ... MODE PHYSICAL PROMOTE that completes, against a real primary
// (blue) and its streaming standby (green), each test with a pair and a
// pgvalve of its own: under pgbench with a new connection per transaction,
// under clients that keep their connections, DRY RUN's findings, and the
// switch kept across a restart. What is checked is what the clients and
// the servers saw: no failed transaction, at most one error per kept
// connection, every committed row on green exactly once.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>

#include "tests/e2e/cutover_test_support.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace pgvalve::test {
namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

constexpr char kCutover[] = "CUTOVER app TO green MODE PHYSICAL PROMOTE TIMEOUT '30s'";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The lines of `log` that contain `text`.
std::string LogLinesWith(const std::string& log, const std::string& text) {
  std::istringstream lines(log);
  std::string found;
  for (std::string line; std::getline(lines, line);) {
    if (line.find(text) != std::string::npos) found += line + "\n";
  }
  return found.empty() ? "(none)\n" : found;
}

// The number after `label` in pgbench's report, if it printed the line.
std::optional<int64_t> PgbenchCount(const std::string& output, const std::string& label) {
  std::smatch match;
  if (!std::regex_search(output, match, std::regex(label + R"(: (\d+))"))) return std::nullopt;
  return std::stoll(match[1].str());
}

// A child process that is stopped if the test leaves before reaping it.
class ChildProcess {
 public:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  ~ChildProcess() {
    if (!status_) StopProcess(pid_, SIGTERM, 5s);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool running() {
    if (!status_) status_ = WaitForExit(pid_, 0ms);
    return !status_;
  }
  std::optional<int> Wait(std::chrono::milliseconds timeout) {
    if (!status_) status_ = WaitForExit(pid_, timeout);
    return status_;
  }

 private:
  pid_t pid_;
  std::optional<int> status_;
};

class CutoverCompletesTest : public CutoverTest {
 protected:
  static void PrintReport(const std::string& title, const ResultTable& report) {
    std::cout << title << ":\n" << report.ToString();
  }
};

// pgbench -C: every transaction opens a connection, which the hold makes
// wait and the switch sends to green. pgbench counts only committed
// transactions, and each inserts one pgbench_history row.
TEST_F(CutoverCompletesTest, PgbenchConnectingPerTransactionFailsNothingAndLosesNothing) {
  StartServers([](const PgServer& blue) {
    const CommandResult init =
        RunCommand({PgServer::BinPath("pgbench"), "-i", "-s", "1", "-q", "-h", blue.host(), "-p",
                    std::to_string(blue.port()), "-U", std::string(kSuperuser), std::string(kApp)});
    if (!init.Succeeded()) {
      throw std::runtime_error("pgbench -i " + DescribeWaitStatus(init.wait_status) + ":\n" +
                               init.output);
    }
  });
  PgConn admin = ConnectAdmin();
  TempDir work("pgvalve-pgbench");
  const std::string output_path = work.path() + "/pgbench.out";
  // One thread per client (-j = -c): pgbench connects with a blocking
  // call, so a connection held by the cutover would stall every other
  // client of its thread. Throttled (-R, 40 transactions a second in all):
  // a client waits for its next slot disconnected, so at the hold most
  // clients are between connections and go on to green. Unthrottled, a -C
  // client is connected most of the time; every client connected to blue
  // at the hold is ended (below), and when all eight were, pgbench was
  // over before the cutover and the test tested nothing.
  const auto pgbench_started = steady_clock::now();
  ChildProcess pgbench(
      SpawnProcess({PgServer::BinPath("pgbench"), "-n", "-C", "-c", "8", "-j", "8", "-R", "40", "-T", "12",
                    "-h", "127.0.0.1", "-p", std::to_string(pgvalve().listen_port()), "-U",
                    std::string(kSuperuser), std::string(kApp)},
                   output_path));

  // A few seconds in: once pgbench has committed some transactions
  // through pgvalve (each opens a connection: a few dozen a second here).
  blue().WaitUntilTrue("SELECT count(*) >= 60 FROM pgbench_history", kHangGuard, kApp);
  ASSERT_TRUE(pgbench.running()) << ReadFile(output_path);
  const auto cutover_started = steady_clock::now();
  AdminCommand cutover(pgvalve().AdminConnString(), kCutover);
  QueryOutcome& outcome = cutover.Result();
  const auto cutover_ended = steady_clock::now();
  ASSERT_TRUE(outcome.ok()) << outcome.Describe();
  EXPECT_TRUE(pgbench.running()) << "pgbench ended before the cutover did; it tested nothing\n"
                                 << ReadFile(output_path);
  PrintReport("CUTOVER's report", outcome.table);
  std::cout << "cutover began " << SecondsBetween(pgbench_started, cutover_started)
            << " s into pgbench and took " << SecondsBetween(cutover_started, cutover_ended)
            << " s\n";
  // Every client goes through pgvalve: a backend the preflight calls
  // direct is one of pgvalve's sessions it missed.
  for (size_t row = 0; row < outcome.table.size(); ++row) {
    const std::string item = outcome.table.Text(row, "item");
    if (item.rfind("direct backend pid ", 0) != 0) continue;
    // The preflight says so itself when it cannot tell: a session still
    // authenticating has no backend pid in pgvalve yet.
    if (outcome.table.Text(row, "detail").find("still authenticating") != std::string::npos) continue;
    ADD_FAILURE() << "the preflight reports " << item << " (" << outcome.table.Text(row, "detail")
                  << "), but nothing bypasses pgvalve; pgvalve's log on that pid:\n"
                  << LogLinesWith(pgvalve().process().Log(), "backend_pid=" + item.substr(19));
  }

  const std::optional<int> status = pgbench.Wait(kHangGuard);
  ASSERT_TRUE(status) << "pgbench still running " << kHangGuard.count() << " s after its 12 s\n"
                      << ReadFile(output_path);
  const std::string output = ReadFile(output_path);
  std::cout << "pgbench:\n" << output;
  // A client whose connection was already open on blue when the hold
  // began gets the cutover's one 57P01 at its next boundary (pgvalve cannot
  // move an authenticated session without a reconnect); pgbench does not
  // reconnect, aborts that client and exits 2. Nothing else may end one.
  if (*status != 0) {
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << DescribeWaitStatus(*status) << "\n" << output;
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);) {
      if (line.find("FATAL") == std::string::npos && line.find("ERROR") == std::string::npos) continue;
      EXPECT_NE(line.find("moved to another server (cutover"), std::string::npos)
          << "an error other than the cutover's 57P01: " << line;
    }
  }
  if (std::optional<int64_t> failed = PgbenchCount(output, "number of failed transactions")) {
    EXPECT_EQ(*failed, 0) << output;
  }
  const std::optional<int64_t> processed =
      PgbenchCount(output, "number of transactions actually processed");
  ASSERT_TRUE(processed) << output;

  // Every committed transaction is on green, once; each one moved its
  // delta into a branch, a teller and an account in the same commit.
  EXPECT_EQ(green().QueryScalar("SELECT count(*) FROM pgbench_history", kApp),
            std::to_string(*processed));
  EXPECT_EQ(green().QueryScalar("SELECT count(*) FROM (SELECT FROM pgbench_history "
                                "GROUP BY tid, bid, aid, mtime HAVING count(*) > 1) AS twice",
                                kApp),
            "0");
  const std::string history_sum =
      green().QueryScalar("SELECT coalesce(sum(delta), 0) FROM pgbench_history", kApp);
  EXPECT_EQ(green().QueryScalar("SELECT sum(bbalance) FROM pgbench_branches", kApp), history_sum);
  EXPECT_EQ(green().QueryScalar("SELECT sum(tbalance) FROM pgbench_tellers", kApp), history_sum);
  EXPECT_EQ(green().QueryScalar("SELECT sum(abalance) FROM pgbench_accounts", kApp), history_sum);

  PgConn client = ConnectClient();
  EXPECT_EQ(ServerPort(client.get()), green().port());
  ExecOk(client.get(), "INSERT INTO t (client, n) VALUES (0, 1)");
  EXPECT_EQ(green().QueryScalar("SELECT count(*) FROM t WHERE client = 0 AND server_port = " +
                                    std::to_string(green().port()),
                                kApp),
            "1");
  EXPECT_FALSE(green().IsInRecovery());

  const std::optional<CutoverRow> row = LatestCutover(admin.get());
  ASSERT_TRUE(row);
  EXPECT_EQ(row->at("outcome"), "completed");
  EXPECT_EQ(row->at("source"), "blue");
  EXPECT_EQ(row->at("target"), "green");
  EXPECT_GE(std::stoll(row->at("held_new_sessions")), 0);
  EXPECT_NE(row->at("lsn"), "<NULL>");
  EXPECT_EQ(row->at("error"), "<NULL>");
  std::cout << "held " << row->at("held_new_sessions") << " new session(s) and "
            << row->at("held_requests") << " request(s) for " << row->at("hold_seconds")
            << " s: p50 " << row->at("held_p50_ms") << " ms, max " << row->at("held_max_ms")
            << " ms; closed " << row->at("closed") << ", terminated " << row->at("terminated")
            << "\n";
  EXPECT_EQ(AppColumn(admin.get(), "upstream"), "green");
  EXPECT_EQ(AppColumn(admin.get(), "state"), "enabled");
}

// Clients that keep their connections: each session on blue is closed at
// its transaction boundary once green takes over, so each client sees one
// error (57P01) and reconnects, to green.
TEST_F(CutoverCompletesTest, KeptConnectionsSeeAtMostOneErrorAndEveryCommitIsOnGreenOnce) {
  constexpr int kWriters = 8;
  constexpr int64_t kCommitsAround = 20;  // before the cutover, and after it
  StartServers();
  PgConn admin = ConnectAdmin();
  WriterPool pool(kWriters, ClientConnString(), "t");
  ASSERT_TRUE(pool.EachCommits(kCommitsAround)) << "the writers never all got going";

  AdminCommand cutover(pgvalve().AdminConnString(), kCutover);
  QueryOutcome& outcome = cutover.Result();
  ASSERT_TRUE(outcome.ok()) << outcome.Describe();
  PrintReport("CUTOVER's report", outcome.table);
  EXPECT_TRUE(pool.EachCommits(kCommitsAround))
      << "the writers did not all go on writing after the cutover";
  pool.Stop();

  // Every commit a client was told of is on green, exactly once; after the
  // cutover, green took the writes itself.
  PgConn on_green = Connect(green().ConnString(kApp));
  ExpectEveryCommitOnceOn(on_green.get(), pool);
  for (const auto& writer : pool.writers()) {
    const std::string on_green_itself = "SELECT count(*) FROM t WHERE client = " + std::to_string(writer->client) +
                                        " AND server_port = " + std::to_string(green().port());
    EXPECT_NE(ScalarString(on_green.get(), on_green_itself), "0")
        << "client " << writer->client << " never wrote to green";
  }
  EXPECT_EQ(AppColumn(admin.get(), "upstream"), "green");
  const std::optional<CutoverRow> row = LatestCutover(admin.get());
  ASSERT_TRUE(row);
  EXPECT_EQ(row->at("outcome"), "completed");
}

// DRY RUN names the sessions a move would cost something (a temporary
// table, a LISTEN) and the backends pgvalve does not see, and changes
// nothing.
TEST_F(CutoverCompletesTest, DryRunListsPinnedSessionsAndChangesNothing) {
  StartServers();
  DrainedSession with_temp = OpenClient();
  ExecOk(with_temp.get(), "CREATE TEMP TABLE scratch (x int)");
  DrainedSession listening = OpenClient();
  ExecOk(listening.get(), "LISTEN cutover_news");
  DrainedSession plain = OpenClient();
  DrainedSession direct = OpenSession(blue().ConnString(kApp));
  PgConn admin = ConnectAdmin();
  const std::string temp_id = ClientId(admin.get(), with_temp.get());
  const std::string listening_id = ClientId(admin.get(), listening.get());
  const std::string plain_id = ClientId(admin.get(), plain.get());

  PgResult dry = Exec(admin.get(), "CUTOVER app TO green MODE PHYSICAL PROMOTE DRY RUN");
  ASSERT_EQ(PQresultStatus(dry.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(dry.get());
  EXPECT_STREQ(PQcmdStatus(dry.get()), "CUTOVER DRY RUN");
  const ResultTable report(dry.get());
  PrintReport("DRY RUN's report", report);

  const std::string temp_item =
      "client " + temp_id + " (backend pid " + std::to_string(with_temp.backend_pid) + ")";
  const std::optional<size_t> temp_row = ReportRow(report, temp_item);
  ASSERT_TRUE(temp_row) << temp_item << " not in\n" << report.ToString();
  EXPECT_EQ(report.Text(*temp_row, "status"), "warning");
  EXPECT_NE(report.Text(*temp_row, "detail").find("temporary tables: "), std::string::npos);
  EXPECT_NE(report.Text(*temp_row, "detail").find("scratch"), std::string::npos);

  const std::string listening_item =
      "client " + listening_id + " (backend pid " + std::to_string(listening.backend_pid) + ")";
  const std::optional<size_t> listening_row = ReportRow(report, listening_item);
  ASSERT_TRUE(listening_row) << listening_item << " not in\n" << report.ToString();
  EXPECT_EQ(report.Text(*listening_row, "status"), "warning");
  EXPECT_NE(report.Text(*listening_row, "detail").find("LISTEN: cutover_news"), std::string::npos);

  const std::string direct_item = "direct backend pid " + std::to_string(direct.backend_pid);
  const std::optional<size_t> direct_row = ReportRow(report, direct_item);
  ASSERT_TRUE(direct_row) << direct_item << " not in\n" << report.ToString();
  EXPECT_EQ(report.Text(*direct_row, "status"), "warning");

  for (size_t row = 0; row < report.size(); ++row) {
    const std::string item = report.Text(row, "item");
    EXPECT_EQ(item.find("client " + plain_id + " "), std::string::npos)
        << "a session with nothing to lose: " << item;
    EXPECT_TRUE(item.rfind("step: ", 0) != 0 || item == "step: preflight")
        << "DRY RUN ran " << item;
    EXPECT_NE(report.Text(row, "status"), "failed") << item;
  }

  // Nothing changed.
  EXPECT_EQ(AppColumn(admin.get(), "upstream"), "blue");
  EXPECT_EQ(AppColumn(admin.get(), "state"), "enabled");
  EXPECT_EQ(AppColumn(admin.get(), "switched_at"), "<NULL>");
  EXPECT_TRUE(green().IsInRecovery());
  EXPECT_EQ(ScalarString(with_temp.get(), "SELECT count(*) FROM scratch"), "0");
  EXPECT_EQ(ServerPort(listening.get()), blue().port());
  EXPECT_EQ(ServerPort(plain.get()), blue().port());
  PgConn fresh = ConnectClient();
  EXPECT_EQ(ServerPort(fresh.get()), blue().port());
  const std::optional<CutoverRow> row = LatestCutover(admin.get());
  ASSERT_TRUE(row);
  EXPECT_EQ(row->at("outcome"), "dry run");
  for (const DrainedSession* session : {&with_temp, &listening, &plain}) {
    EXPECT_EQ(session->DescribeNotices(), "(no notices)");
  }
}

// The switch is written to the state file: a restarted pgvalve sends app
// to green.
TEST_F(CutoverCompletesTest, ACompletedCutoverIsKeptAcrossARestart) {
  StartServers();
  {
    AdminCommand cutover(pgvalve().AdminConnString(), kCutover);
    QueryOutcome& outcome = cutover.Result();
    ASSERT_TRUE(outcome.ok()) << outcome.Describe();
  }
  ASSERT_EQ(pgvalve().StopAndCheck(), "");
  pgvalve().Start();

  PgConn admin = ConnectAdmin();
  EXPECT_EQ(AppColumn(admin.get(), "upstream"), "green");
  EXPECT_EQ(AppColumn(admin.get(), "port"), std::to_string(green().port()));
  EXPECT_EQ(AppColumn(admin.get(), "configured_upstream"), "blue");
  EXPECT_NE(AppColumn(admin.get(), "switched_by").find("cutover"), std::string::npos)
      << AppColumn(admin.get(), "switched_by");
  PgConn client = ConnectClient();
  EXPECT_EQ(ServerPort(client.get()), green().port());
  ExecOk(client.get(), "INSERT INTO t (client, n) VALUES (0, 1)");
  EXPECT_EQ(
      green().QueryScalar(
          "SELECT count(*) FROM t WHERE server_port = " + std::to_string(green().port()), kApp),
      "1");
}

}  // namespace
}  // namespace pgvalve::test
