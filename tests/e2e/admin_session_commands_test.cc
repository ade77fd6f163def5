// CANCEL, TERMINATE and KILL from the admin console against a real
// PostgreSQL 15, checked from the client's side (the SQLSTATE it gets) and
// from PostgreSQL's (pg_stat_activity over a direct connection).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tests/e2e/admin_test_support.h"

namespace pgvalve::test {
namespace {

// Routed to an upstream without control credentials.
constexpr std::string_view kNoControlDatabase = "kill_without_control";
// Routed to an upstream whose control connection logs into this very
// database.
constexpr std::string_view kControlHomeDatabase = "control_home";

}  // namespace

AdminPgvalveOptions SharedPgvalveOptions(const PgServer& pg) {
  AdminPgvalveOptions options;
  options.extra_toml = UpstreamToml("green", pg, /*control_user=*/"") +
                       RouteToml(kNoControlDatabase, "green") +
                       UpstreamToml("teal", pg, kSuperuser, kControlHomeDatabase) +
                       RouteToml(kControlHomeDatabase, "teal");
  return options;
}

namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

class SessionCommandsTest : public AdminConsoleTest {
 protected:
  void SetUp() override {
    AdminConsoleTest::SetUp();
    checker_ = ConnectDirect("postgres");
  }

  // A session through pgvalve on `db` running pg_sleep(600), once
  // PostgreSQL shows its statement running.
  struct Sleeper {
    PgConn conn;
    // Errors that arrive between requests end up here (see NoticeLog).
    std::unique_ptr<NoticeLog> notices;
    int32_t pid = 0;
    std::string id;
    std::optional<Background<QueryOutcome>> query;
  };
  Sleeper StartSleeper(PGconn* admin, std::string_view db) {
    Sleeper sleeper;
    sleeper.conn = ConnectClient(db);
    sleeper.notices = std::make_unique<NoticeLog>(sleeper.conn.get());
    sleeper.pid = BackendPid(sleeper.conn.get());
    sleeper.id = ClientId(admin, sleeper.conn.get());
    sleeper.query.emplace(QueryInBackground(sleeper.conn.get(), "SELECT pg_sleep(600)"));
    EXPECT_TRUE(WaitForBackendActive(checker_.get(), sleeper.pid))
        << "pg_sleep never started on backend " << sleeper.pid;
    return sleeper;
  }

  // A direct connection to PostgreSQL's "postgres" database, which none of
  // the commands under test touch.
  PgConn checker_;
};

TEST_F(SessionCommandsTest, CancelBackendPidCancelsTheRunningQuery) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  Sleeper sleeper = StartSleeper(admin.get(), db);

  const ResultTable rows =
      QueryTable(admin.get(), "CANCEL BACKEND " + std::to_string(sleeper.pid));
  ASSERT_EQ(rows.size(), 1u) << rows.ToString();
  EXPECT_EQ(rows.Text(0, "client_id"), sleeper.id);
  EXPECT_EQ(rows.Text(0, "backend_pid"), std::to_string(sleeper.pid));
  EXPECT_EQ(rows.Text(0, "result"), "cancelled");

  ASSERT_TRUE(sleeper.query->WaitFor(kHangGuard)) << "pg_sleep(600) was not cancelled";
  EXPECT_EQ(sleeper.query->Result().sqlstate, "57014") << sleeper.query->Result().Describe();
  EXPECT_EQ(ScalarString(sleeper.conn.get(), "SELECT 'still here'"), "still here");
}

TEST_F(SessionCommandsTest, CancelClientIdCancelsTheRunningQuery) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  Sleeper sleeper = StartSleeper(admin.get(), db);

  const ResultTable rows = QueryTable(admin.get(), "CANCEL " + sleeper.id);
  ASSERT_EQ(rows.size(), 1u) << rows.ToString();
  EXPECT_EQ(rows.Text(0, "client_id"), sleeper.id);
  EXPECT_EQ(rows.Text(0, "result"), "cancelled");

  ASSERT_TRUE(sleeper.query->WaitFor(kHangGuard)) << "pg_sleep(600) was not cancelled";
  EXPECT_EQ(sleeper.query->Result().sqlstate, "57014") << sleeper.query->Result().Describe();
  EXPECT_EQ(ScalarString(sleeper.conn.get(), "SELECT 'still here'"), "still here");
}

TEST_F(SessionCommandsTest, CancelDatabaseCancelsOnlyActiveSessions) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  Sleeper sleeper = StartSleeper(admin.get(), db);
  PgConn idle = ConnectClient(db);
  const std::string idle_id = ClientId(admin.get(), idle.get());
  PgConn in_transaction = ConnectClient(db);
  const std::string in_transaction_id = ClientId(admin.get(), in_transaction.get());
  ExecOk(in_transaction.get(), "BEGIN");
  // A session on another database is not touched.
  const std::string other_db = FreshDatabase("other");
  Sleeper elsewhere = StartSleeper(admin.get(), other_db);

  PgResult result = ExecOk(admin.get(), "CANCEL DATABASE " + db);
  // Only what a cancel hits is listed: the idle session and the open
  // transaction are not running a query.
  EXPECT_STREQ(PQcmdStatus(result.get()), "CANCEL 1");
  const ResultTable rows(result.get());
  ASSERT_EQ(rows.size(), 1u) << rows.ToString();
  EXPECT_EQ(rows.Text(0, "client_id"), sleeper.id);
  EXPECT_EQ(rows.Text(0, "state"), "active");
  EXPECT_EQ(rows.Text(0, "result"), "cancelled");
  EXPECT_FALSE(rows.FindRow("client_id", idle_id)) << rows.ToString();
  EXPECT_FALSE(rows.FindRow("client_id", in_transaction_id)) << rows.ToString();

  ASSERT_TRUE(sleeper.query->WaitFor(kHangGuard)) << "pg_sleep(600) was not cancelled";
  EXPECT_EQ(sleeper.query->Result().sqlstate, "57014") << sleeper.query->Result().Describe();
  EXPECT_EQ(ScalarString(idle.get(), "SELECT 'idle one'"), "idle one");
  // Had a cancel reached the open transaction it would be aborted now.
  EXPECT_EQ(ScalarString(in_transaction.get(), "SELECT 'in transaction'"), "in transaction");
  ExecOk(in_transaction.get(), "COMMIT");

  EXPECT_FALSE(elsewhere.query->WaitFor(500ms)) << "a session on another database was cancelled";
  QueryTable(admin.get(), "CANCEL " + elsewhere.id);
  ASSERT_TRUE(elsewhere.query->WaitFor(kHangGuard));
}

TEST_F(SessionCommandsTest, CancelOfAnUnknownClientIsAnError) {
  PgConn admin = ConnectAdmin();
  const QueryOutcome unknown = RunQuery(admin.get(), "CANCEL 987654321");
  EXPECT_EQ(unknown.sqlstate, "42704") << unknown.Describe();
  const QueryOutcome unknown_pid = RunQuery(admin.get(), "CANCEL BACKEND 1");
  EXPECT_EQ(unknown_pid.sqlstate, "42704") << unknown_pid.Describe();
  EXPECT_EQ(ScalarString(admin.get(), "SHOW VERSION").substr(0, 8), "pgvalve ");
}

// A pid after BACKEND is an int4: a number that equals a backend's pid
// modulo 2^32 is refused, not wrapped onto that backend.
TEST_F(SessionCommandsTest, CancelBackendWithAnOutOfRangePidCancelsNothing) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  Sleeper sleeper = StartSleeper(admin.get(), db);

  const int64_t wrapped = int64_t{sleeper.pid} + (int64_t{1} << 32);
  const QueryOutcome cancel = RunQuery(admin.get(), "CANCEL BACKEND " + std::to_string(wrapped));
  EXPECT_FALSE(cancel.ok()) << "CANCEL BACKEND " << wrapped << " matched backend " << sleeper.pid
                            << ":\n" << cancel.table.ToString();
  EXPECT_FALSE(sleeper.query->WaitFor(std::chrono::milliseconds(500)))
      << "pg_sleep on backend " << sleeper.pid << " was cancelled: "
      << sleeper.query->Result().Describe();
  QueryTable(admin.get(), "CANCEL " + sleeper.id);
  ASSERT_TRUE(sleeper.query->WaitFor(kHangGuard));
}

TEST_F(SessionCommandsTest, KillDatabaseEndsEverySessionOfThatDatabase) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn first = ConnectClient(db);
  PgConn second = ConnectClient(db);
  const int32_t first_pid = BackendPid(first.get());
  const int32_t second_pid = BackendPid(second.get());
  const std::string other_db = FreshDatabase("other");
  PgConn bystander = ConnectClient(other_db);

  PgResult result = ExecOk(admin.get(), "KILL DATABASE " + db);
  EXPECT_STREQ(PQcmdStatus(result.get()), "KILL 2");
  EXPECT_TRUE(WaitUntilGone(checker_.get(), first_pid));
  EXPECT_TRUE(WaitUntilGone(checker_.get(), second_pid));
  EXPECT_EQ(RunQuery(first.get(), "SELECT 1").sqlstate, "57P01");
  EXPECT_EQ(RunQuery(second.get(), "SELECT 1").sqlstate, "57P01");
  EXPECT_EQ(ScalarString(bystander.get(), "SELECT 'untouched'"), "untouched");
}

TEST_F(SessionCommandsTest, TerminateClientEndsTheBackendWithinASecond) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  Sleeper sleeper = StartSleeper(admin.get(), db);

  const auto started = steady_clock::now();
  const ResultTable rows = QueryTable(admin.get(), "TERMINATE " + sleeper.id);
  ASSERT_TRUE(WaitUntilGone(checker_.get(), sleeper.pid))
      << "backend " << sleeper.pid << " still running";
  const auto gone_after = steady_clock::now() - started;
  EXPECT_LE(gone_after, 1s) << "backend left pg_stat_activity only after "
                            << std::chrono::duration<double>(gone_after).count() << " s";

  ASSERT_EQ(rows.size(), 1u) << rows.ToString();
  EXPECT_EQ(rows.Text(0, "client_id"), sleeper.id);
  EXPECT_EQ(rows.Text(0, "backend_pid"), std::to_string(sleeper.pid));
  EXPECT_EQ(rows.Text(0, "upstream"), "blue");
  EXPECT_EQ(rows.Text(0, "result"), "terminated, verified gone");
  EXPECT_EQ(rows.Text(0, "gone"), "t");

  ASSERT_TRUE(sleeper.query->WaitFor(kHangGuard)) << "client not told its session ended";
  EXPECT_EQ(sleeper.query->Result().sqlstate, "57P01") << sleeper.query->Result().Describe();
  EXPECT_TRUE(WaitUntil([&] { return ShowClients(admin.get()).FindRow("id", sleeper.id) == std::nullopt; }))
      << "the session is still listed:\n" << ShowClients(admin.get()).ToString();
}

TEST_F(SessionCommandsTest, TerminateDatabaseIncludingDirectSparesTheControlConnection) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn proxied = ConnectClient(db);
  const int32_t proxied_pid = BackendPid(proxied.get());
  const std::string proxied_id = ClientId(admin.get(), proxied.get());
  PgConn direct = ConnectDirect(db, kAppUser);
  const int32_t direct_pid = BackendPid(direct.get());

  PgResult result = ExecOk(admin.get(), "TERMINATE DATABASE " + db + " INCLUDING DIRECT");
  const ResultTable rows(result.get());
  EXPECT_EQ(PQcmdStatus(result.get()), "TERMINATE " + std::to_string(rows.size()));
  const auto proxied_row = rows.FindRow("backend_pid", std::to_string(proxied_pid));
  const auto direct_row = rows.FindRow("backend_pid", std::to_string(direct_pid));
  ASSERT_TRUE(proxied_row && direct_row) << rows.ToString();
  EXPECT_EQ(rows.Text(*proxied_row, "client_id"), proxied_id);
  EXPECT_EQ(rows.Text(*proxied_row, "gone"), "t");
  EXPECT_EQ(rows.Get(*direct_row, "client_id"), std::nullopt);
  EXPECT_EQ(rows.Text(*direct_row, "user"), "app_user");
  EXPECT_EQ(rows.Text(*direct_row, "gone"), "t");

  EXPECT_TRUE(WaitUntilGone(checker_.get(), proxied_pid));
  EXPECT_TRUE(WaitUntilGone(checker_.get(), direct_pid));
  EXPECT_EQ(RunQuery(proxied.get(), "SELECT 1").sqlstate, "57P01");
  EXPECT_EQ(RunQuery(direct.get(), "SELECT 1").sqlstate, "57P01");

  // The control connection did the work and is still there.
  const ResultTable upstreams = QueryTable(admin.get(), "SHOW UPSTREAMS");
  const auto blue = upstreams.FindRow("name", "blue");
  ASSERT_TRUE(blue) << upstreams.ToString();
  const std::optional<std::string> control_pid = upstreams.Get(*blue, "control_pid");
  ASSERT_TRUE(control_pid) << upstreams.ToString();
  EXPECT_EQ(ScalarString(checker_.get(),
                         "SELECT application_name FROM pg_stat_activity WHERE pid = " + *control_pid),
            "pgvalve control");
}

TEST_F(SessionCommandsTest, TerminateDatabaseIncludingDirectExcludesAControlConnectionOnThatDatabase) {
  EnsureDatabase(kControlHomeDatabase);
  PgConn admin = ConnectAdmin();
  PgConn proxied = ConnectClient(kControlHomeDatabase);
  const int32_t proxied_pid = BackendPid(proxied.get());
  PgConn direct = ConnectDirect(kControlHomeDatabase);
  const int32_t direct_pid = BackendPid(direct.get());

  const ResultTable rows =
      QueryTable(admin.get(), "TERMINATE DATABASE " + std::string(kControlHomeDatabase) +
                                  " INCLUDING DIRECT");
  EXPECT_TRUE(WaitUntilGone(checker_.get(), proxied_pid));
  EXPECT_TRUE(WaitUntilGone(checker_.get(), direct_pid));

  const ResultTable upstreams = QueryTable(admin.get(), "SHOW UPSTREAMS");
  const auto teal = upstreams.FindRow("name", "teal");
  ASSERT_TRUE(teal) << upstreams.ToString();
  const std::optional<std::string> control_pid = upstreams.Get(*teal, "control_pid");
  ASSERT_TRUE(control_pid) << "teal's control connection is gone:\n" << upstreams.ToString();
  const ResultTable control = QueryTable(
      checker_.get(),
      "SELECT datname, application_name FROM pg_stat_activity WHERE pid = " + *control_pid);
  ASSERT_EQ(control.size(), 1u) << "control backend " << *control_pid << " was terminated";
  EXPECT_EQ(control.Text(0, "datname"), kControlHomeDatabase);
  EXPECT_EQ(control.Text(0, "application_name"), "pgvalve control");
  if (const auto row = rows.FindRow("backend_pid", *control_pid)) {
    EXPECT_EQ(rows.Text(*row, "gone"), "f") << rows.ToString();
  }
  ASSERT_TRUE(rows.FindRow("backend_pid", std::to_string(direct_pid))) << rows.ToString();
  ASSERT_TRUE(rows.FindRow("backend_pid", std::to_string(proxied_pid))) << rows.ToString();

  // And it still works: the next TERMINATE needs no new control connection.
  PgConn again = ConnectDirect(kControlHomeDatabase);
  const int32_t again_pid = BackendPid(again.get());
  QueryTable(admin.get(),
             "TERMINATE DATABASE " + std::string(kControlHomeDatabase) + " INCLUDING DIRECT");
  EXPECT_TRUE(WaitUntilGone(checker_.get(), again_pid));
  EXPECT_EQ(QueryTable(admin.get(), "SHOW UPSTREAMS").Text(*teal, "control_pid"), *control_pid);
}

TEST_F(SessionCommandsTest, KillWithoutControlCredentialsStillEndsTheBackend) {
  EnsureDatabase(kNoControlDatabase);
  PgConn admin = ConnectAdmin();
  Sleeper sleeper = StartSleeper(admin.get(), kNoControlDatabase);
  EXPECT_EQ(ClientState(admin.get(), sleeper.id), "active");

  const ResultTable rows = QueryTable(admin.get(), "KILL " + sleeper.id);
  ASSERT_EQ(rows.size(), 1u) << rows.ToString();
  EXPECT_EQ(rows.Text(0, "client_id"), sleeper.id);
  const std::string method = rows.Text(0, "result");
  EXPECT_NE(method.find("cancel request"), std::string::npos) << method;
  EXPECT_NE(method.find("socket closed"), std::string::npos) << method;

  EXPECT_TRUE(WaitUntilGone(checker_.get(), sleeper.pid))
      << "backend " << sleeper.pid << " survived KILL";
  ASSERT_TRUE(sleeper.query->WaitFor(kHangGuard)) << "client's query never ended";
  // The running query is cut off; the client then learns that its
  // connection was closed by the administrator.
  const QueryOutcome& running = sleeper.query->Result();
  EXPECT_FALSE(running.ok());
  const QueryOutcome next = RunQuery(sleeper.conn.get(), "SELECT 1");
  EXPECT_FALSE(next.ok());
  // The FATAL may also arrive between the two queries, when libpq hands
  // it to the notice receiver instead of to a result.
  bool fatal_between = false;
  for (const NoticeLog::Notice& notice : sleeper.notices->notices()) {
    fatal_between = fatal_between || (notice.severity == "FATAL" && notice.sqlstate == "57P01");
  }
  EXPECT_TRUE(running.sqlstate == "57P01" || next.sqlstate == "57P01" || fatal_between)
      << "running query: " << running.Describe() << "\nnext query: " << next.Describe();
  EXPECT_EQ(PQstatus(sleeper.conn.get()), CONNECTION_BAD);
}

TEST_F(SessionCommandsTest, KillWithControlCredentialsUsesPgTerminateBackend) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn idle = ConnectClient(db);
  const int32_t pid = BackendPid(idle.get());
  const std::string id = ClientId(admin.get(), idle.get());

  const ResultTable rows = QueryTable(admin.get(), "KILL " + id);
  ASSERT_EQ(rows.size(), 1u) << rows.ToString();
  EXPECT_EQ(rows.Text(0, "result").rfind("pg_terminate_backend", 0), 0u) << rows.ToString();
  EXPECT_TRUE(WaitUntilGone(checker_.get(), pid));
  const QueryOutcome next = RunQuery(idle.get(), "SELECT 1");
  EXPECT_EQ(next.sqlstate, "57P01") << next.Describe();
  EXPECT_EQ(PQstatus(idle.get()), CONNECTION_BAD);
}

TEST_F(SessionCommandsTest, KillClientIsKill) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn idle = ConnectClient(db);
  const int32_t pid = BackendPid(idle.get());
  const std::string id = ClientId(admin.get(), idle.get());
  const ResultTable rows = QueryTable(admin.get(), "KILL_CLIENT " + id);
  ASSERT_EQ(rows.size(), 1u) << rows.ToString();
  EXPECT_TRUE(WaitUntilGone(checker_.get(), pid));
  EXPECT_EQ(RunQuery(idle.get(), "SELECT 1").sqlstate, "57P01");
}

// TERMINATE DATABASE db INCLUDING DIRECT on an upstream without
// control_user cannot see direct connections, so it must fail (55000, as
// SHOW BACKENDS and DRAIN do) rather than report success.
TEST_F(SessionCommandsTest, TerminateIncludingDirectWithoutControlCredentialsDoesNotClaimSuccess) {
  EnsureDatabase(kNoControlDatabase);
  PgConn admin = ConnectAdmin();
  PgConn direct = ConnectDirect(kNoControlDatabase);
  const int32_t direct_pid = BackendPid(direct.get());

  const QueryOutcome terminate = RunQuery(
      admin.get(), "TERMINATE DATABASE " + std::string(kNoControlDatabase) + " INCLUDING DIRECT");
  const bool reported = !terminate.ok() ||
                        terminate.table.ToString().find("control_user") != std::string::npos;
  EXPECT_TRUE(reported) << "direct backend " << direct_pid
                        << " was left running and the command reported nothing:\n"
                        << terminate.Describe() << "\n" << terminate.table.ToString();
  EXPECT_TRUE(BackendListed(checker_.get(), direct_pid));
}

TEST_F(SessionCommandsTest, TerminateWithoutControlCredentialsSaysSo) {
  EnsureDatabase(kNoControlDatabase);
  PgConn admin = ConnectAdmin();
  PgConn client = ConnectClient(kNoControlDatabase);
  const int32_t pid = BackendPid(client.get());
  const std::string id = ClientId(admin.get(), client.get());
  const ResultTable rows = QueryTable(admin.get(), "TERMINATE " + id);
  ASSERT_EQ(rows.size(), 1u) << rows.ToString();
  EXPECT_NE(rows.Text(0, "result").find("no control_user"), std::string::npos) << rows.ToString();
  EXPECT_EQ(rows.Text(0, "gone"), "f");
  EXPECT_TRUE(BackendListed(checker_.get(), pid));
  EXPECT_EQ(ScalarString(client.get(), "SELECT 'untouched'"), "untouched");
}

}  // namespace
}  // namespace pgvalve::test
