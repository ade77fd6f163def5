// Per-database limits against a real PostgreSQL 15: query_timeout cancels
// a long query and, after query_timeout_grace, terminates one that ignores
// cancels; idle_in_transaction_timeout and client_idle_timeout close idle
// sessions with PostgreSQL's own SQLSTATEs; EXCEPT USER spares; SET, RESET
// and SHOW LIMITS on the admin console; limits set at runtime survive a
// restart through the state file. Each test acts on a database of its own,
// so the limits it sets touch no other test's sessions.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tests/e2e/admin_test_support.h"

namespace pgvalve::test {
namespace {

// Routed in the config file with limits of its own.
constexpr std::string_view kConfiguredDatabase = "limits_from_file";
// Routed to an upstream without control credentials.
constexpr std::string_view kNoControlDatabase = "limits_without_control";

// A query that swallows every cancel: only a terminate ends it. The sleep
// loop runs inside the exception block: PL/pgSQL checks for interrupts
// before each statement, so a cancel that arrived between two blocks of a
// loop of blocks would end the query (under load it did). Here the only
// point outside the handler is just after a caught cancel.
constexpr std::string_view kIgnoresCancels =
    "DO $$ BEGIN LOOP BEGIN LOOP PERFORM pg_sleep(0.1); END LOOP; "
    "EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$";

}  // namespace

AdminPgvalveOptions SharedPgvalveOptions(const PgServer& pg) {
  AdminPgvalveOptions options;
  options.extra_toml = RouteToml(kConfiguredDatabase, "blue") +
                       "query_timeout = \"10min\"\n"
                       "query_timeout_except_users = [\"replicator\"]\n"
                       "client_idle_timeout = \"1h\"\n" +
                       UpstreamToml("green", pg, /*control_user=*/"") +
                       RouteToml(kNoControlDatabase, "green");
  return options;
}

namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

class LimitsTest : public AdminConsoleTest {
 protected:
  void SetUp() override {
    AdminConsoleTest::SetUp();
    checker_ = ConnectDirect("postgres");
  }

  static ResultTable ShowLimits(PGconn* admin) { return QueryTable(admin, "SHOW LIMITS"); }

  // SHOW LIMITS' row for (database, limit).
  static std::optional<size_t> LimitRow(const ResultTable& limits, std::string_view database,
                                        std::string_view limit) {
    for (size_t row = 0; row < limits.size(); ++row) {
      if (limits.Text(row, "database") == database && limits.Text(row, "limit") == limit) {
        return row;
      }
    }
    return std::nullopt;
  }

  // A counter of SHOW LIMITS' row, 0 without the row.
  static int64_t LimitCount(PGconn* admin, std::string_view database, std::string_view limit,
                            std::string_view column) {
    const ResultTable limits = ShowLimits(admin);
    const auto row = LimitRow(limits, database, limit);
    return row ? std::stoll(limits.Text(*row, column)) : 0;
  }

  // The message of the FATAL `sqlstate` that `conn` was told: in the answer
  // to its next query, or between requests (libpq hands those to the
  // notice receiver). "" when it got none; `seen` says what it got.
  static std::string FatalMessage(PGconn* conn, const NoticeLog& notices,
                                  std::string_view sqlstate, std::string& seen) {
    const QueryOutcome next = RunQuery(conn, "SELECT 1");
    seen = "next query: " + next.Describe();
    std::string message = next.sqlstate == sqlstate ? next.message : "";
    for (const NoticeLog::Notice& notice : notices.notices()) {
      seen += "\nreceived " + notice.severity + " " + notice.sqlstate + ": " + notice.message;
      if (notice.severity == "FATAL" && notice.sqlstate == sqlstate) message = notice.message;
    }
    if (PQstatus(conn) != CONNECTION_BAD) {
      seen += "\nand the connection is still open";
      return "";
    }
    return message;
  }

  // A direct connection to PostgreSQL's "postgres" database.
  PgConn checker_;
};

TEST_F(LimitsTest, QueryTimeoutCancelsThenTerminatesWhatIgnoresTheCancel) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  // FORCE: pgvalve has not seen this database yet.
  ExecOk(admin.get(), "SET " + db + ".query_timeout = '1s' FORCE");
  ExecOk(admin.get(), "SET " + db + ".query_timeout_grace = '2s'");
  PgConn client = ConnectClient(db);
  const int32_t pid = BackendPid(client.get());
  const std::string id = ClientId(admin.get(), client.get());

  // Cancelled about a second in (the sweep runs once a second): 57014
  // alone proves it came before the 5 s were over, with no clock in the
  // test that a loaded machine could trip.
  const auto started = steady_clock::now();
  const QueryOutcome sleep = RunQuery(client.get(), "SELECT pg_sleep(5)");
  EXPECT_EQ(sleep.sqlstate, "57014")
      << sleep.Describe() << " after "
      << std::chrono::duration<double>(steady_clock::now() - started).count() << " s";
  EXPECT_EQ(ScalarString(client.get(), "SELECT 'still here'"), "still here")
      << "a cancel ends the query, not the session";

  NoticeLog notices(client.get());
  Background<QueryOutcome> stubborn = QueryInBackground(client.get(), std::string(kIgnoresCancels));
  EXPECT_TRUE(WaitUntilGone(checker_.get(), pid))
      << "backend " << pid << " outlived query_timeout and its grace";
  ASSERT_TRUE(stubborn.WaitFor(kHangGuard)) << "the client was not told its backend ended";
  const QueryOutcome& ended = stubborn.Result();
  EXPECT_FALSE(ended.ok());
  EXPECT_TRUE(ended.sqlstate == "57P01" || ended.sqlstate.empty()) << ended.Describe();
  EXPECT_EQ(PQstatus(client.get()), CONNECTION_BAD);

  const ResultTable limits = ShowLimits(admin.get());
  const auto row = LimitRow(limits, db, "query_timeout");
  ASSERT_TRUE(row) << limits.ToString();
  EXPECT_EQ(limits.Text(*row, "value"), "1s");
  EXPECT_EQ(limits.Text(*row, "source"), "runtime");
  EXPECT_GE(std::stoll(limits.Text(*row, "cancels")), 2) << limits.ToString();
  EXPECT_GE(std::stoll(limits.Text(*row, "terminations")), 1) << limits.ToString();
  const auto grace = LimitRow(limits, db, "query_timeout_grace");
  ASSERT_TRUE(grace) << limits.ToString();
  EXPECT_EQ(limits.Text(*grace, "value"), "2s");

  // One audit line per action, naming what the operator needs.
  const std::string cancel_line = "limit audit: database=\"" + db +
                                  "\" limit=query_timeout value=1s set_on=\"" + db + "\" client=" + id +
                                  " backend_pid=" + std::to_string(pid) +
                                  " user=\"postgres\" action=cancel";
  const std::string terminate_line = "action=terminate outcome=\"terminated, gone from pg_stat_activity";
  EXPECT_TRUE(WaitUntil([&] {
    const std::string log = pgvalve().process().Log();
    return log.find(cancel_line) != std::string::npos && log.find(terminate_line) != std::string::npos;
  })) << "no audit lines like\n" << cancel_line << "\n" << terminate_line;
}

TEST_F(LimitsTest, QueryTimeoutWithoutControlUserRepeatsTheCancelAndSaysWhy) {
  EnsureDatabase(kNoControlDatabase);
  PgConn admin = ConnectAdmin();
  const std::string db(kNoControlDatabase);
  PgConn client = ConnectClient(db);
  const int32_t pid = BackendPid(client.get());
  const int64_t cancels_before = LimitCount(admin.get(), db, "query_timeout", "cancels");
  Background<QueryOutcome> stubborn = QueryInBackground(client.get(), std::string(kIgnoresCancels));
  // The limit starts once the block that swallows cancels is running: on a
  // loaded machine a backend compiling the block in a database it has not
  // used yet can take longer than the second the limit allows, and a cancel
  // before the block is entered ends the statement.
  ASSERT_TRUE(WaitUntil([&] {
    return ScalarString(checker_.get(), "SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                                            std::to_string(pid) + " AND wait_event = 'PgSleep'") == "1";
  })) << "the stubborn query did not start";
  ExecOk(admin.get(), "SET " + db + ".query_timeout = '1s'");
  ExecOk(admin.get(), "SET " + db + ".query_timeout_grace = '1s'");

  EXPECT_TRUE(WaitUntil([&] {
    return LimitCount(admin.get(), db, "query_timeout", "cancels") >= cancels_before + 3;
  })) << ShowLimits(admin.get()).ToString();
  EXPECT_NE(pgvalve().process().Log().find("has no control_user, so its backend cannot be "
                                           "terminated; sending another cancel request instead"),
            std::string::npos);
  // Never a closed socket under a running query: the session is still there.
  EXPECT_FALSE(stubborn.done()) << stubborn.Result().Describe();
  EXPECT_TRUE(BackendListed(checker_.get(), pid));
  EXPECT_EQ(LimitCount(admin.get(), db, "query_timeout", "terminations"), 0);

  ExecOk(admin.get(), "RESET " + db + ".ALL");
  ScalarString(checker_.get(), "SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  EXPECT_TRUE(WaitUntilGone(checker_.get(), pid));
  ASSERT_TRUE(stubborn.WaitFor(kHangGuard));
}

TEST_F(LimitsTest, IdleInTransactionTimeoutEndsTheSessionWith25P03AndRollsBack) {
  const std::string db = FreshDatabase();
  {
    PgConn direct = ConnectDirect(db);
    ExecOk(direct.get(), "CREATE TABLE t (x int)");
  }
  PgConn admin = ConnectAdmin();
  ExecOk(admin.get(), "SET " + db + ".idle_in_transaction_timeout = '1s' FORCE");

  PgConn in_transaction = ConnectClient(db);
  NoticeLog in_transaction_notices(in_transaction.get());
  const int32_t in_transaction_pid = BackendPid(in_transaction.get());
  ExecOk(in_transaction.get(), "BEGIN");
  ExecOk(in_transaction.get(), "INSERT INTO t VALUES (1)");
  PgConn failed = ConnectClient(db);
  NoticeLog failed_notices(failed.get());
  const int32_t failed_pid = BackendPid(failed.get());
  ExecOk(failed.get(), "BEGIN");
  EXPECT_FALSE(RunQuery(failed.get(), "SELECT 1/0").ok());
  PgConn idle = ConnectClient(db);

  EXPECT_TRUE(WaitUntilGone(checker_.get(), in_transaction_pid));
  EXPECT_TRUE(WaitUntilGone(checker_.get(), failed_pid))
      << "an aborted transaction is idle in a transaction too";
  std::string seen;
  EXPECT_NE(FatalMessage(in_transaction.get(), in_transaction_notices, "25P03", seen)
                .find("pgvalve idle_in_transaction_timeout = 1s"),
            std::string::npos)
      << seen;
  EXPECT_NE(FatalMessage(failed.get(), failed_notices, "25P03", seen), "") << seen;

  EXPECT_EQ(ScalarString(idle.get(), "SELECT count(*) FROM t"), "0") << "the INSERT was rolled back";
  EXPECT_EQ(LimitCount(admin.get(), db, "idle_in_transaction_timeout", "closes"), 2);
}

TEST_F(LimitsTest, ClientIdleTimeoutClosesIdleSessionsAndLeavesRunningOnesAlone) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  ExecOk(admin.get(), "SET " + db + ".client_idle_timeout = '1s' FORCE");
  PgConn running = ConnectClient(db);
  Background<QueryOutcome> sleep = QueryInBackground(running.get(), "SELECT pg_sleep(3)");
  PgConn idle = ConnectClient(db);
  NoticeLog notices(idle.get());
  const int32_t idle_pid = BackendPid(idle.get());

  EXPECT_TRUE(WaitUntilGone(checker_.get(), idle_pid));
  std::string seen;
  EXPECT_NE(FatalMessage(idle.get(), notices, "57P01", seen).find("pgvalve client_idle_timeout = 1s"),
            std::string::npos)
      << seen;

  ASSERT_TRUE(sleep.WaitFor(kHangGuard));
  EXPECT_TRUE(sleep.Result().ok()) << "a query running past client_idle_timeout was cut: "
                                   << sleep.Result().Describe();
  EXPECT_EQ(LimitCount(admin.get(), db, "client_idle_timeout", "closes"), 1);
}

TEST_F(LimitsTest, ExceptUserSparesThatUser) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  ExecOk(admin.get(), "SET " + db + ".client_idle_timeout = '1s' EXCEPT USER app_user FORCE");
  // Connected first: idle for longer than the one that is closed.
  PgConn spared = ConnectClient(db, kAppUser);
  const int32_t spared_pid = BackendPid(spared.get());
  PgConn closed = ConnectClient(db);
  const int32_t closed_pid = BackendPid(closed.get());

  EXPECT_TRUE(WaitUntilGone(checker_.get(), closed_pid));
  EXPECT_TRUE(BackendListed(checker_.get(), spared_pid));
  EXPECT_EQ(ScalarString(spared.get(), "SELECT 'spared'"), "spared");

  const ResultTable limits = ShowLimits(admin.get());
  const auto row = LimitRow(limits, db, "client_idle_timeout");
  ASSERT_TRUE(row) << limits.ToString();
  EXPECT_EQ(limits.Text(*row, "except_users"), "app_user");
  EXPECT_EQ(limits.Text(*row, "closes"), "1");
}

TEST_F(LimitsTest, ConfigFileLimitsShowAndRuntimeValuesOverrideThemUntilReset) {
  PgConn admin = ConnectAdmin();
  const std::string db(kConfiguredDatabase);
  ResultTable limits = ShowLimits(admin.get());
  auto query_timeout = LimitRow(limits, db, "query_timeout");
  auto idle = LimitRow(limits, db, "client_idle_timeout");
  ASSERT_TRUE(query_timeout && idle) << limits.ToString();
  EXPECT_EQ(limits.Text(*query_timeout, "value"), "10m");
  EXPECT_EQ(limits.Text(*query_timeout, "except_users"), "replicator");
  EXPECT_EQ(limits.Text(*query_timeout, "source"), "config");
  EXPECT_EQ(limits.Text(*idle, "value"), "1h");
  EXPECT_FALSE(LimitRow(limits, db, "idle_in_transaction_timeout"));
  // SHOW CONFIG shows the file's values under their keys.
  const ResultTable config = QueryTable(admin.get(), "SHOW CONFIG");
  const std::string prefix = "databases.\"" + db + "\".";
  const auto config_timeout = config.FindRow("key", prefix + "query_timeout");
  const auto config_except = config.FindRow("key", prefix + "query_timeout_except_users");
  ASSERT_TRUE(config_timeout && config_except) << config.ToString();
  EXPECT_EQ(config.Text(*config_timeout, "value"), "10m");
  EXPECT_EQ(config.Text(*config_except, "value"), "replicator");
  EXPECT_FALSE(config.FindRow("key", prefix + "idle_in_transaction_timeout")) << config.ToString();

  ExecOk(admin.get(), "SET " + db + ".client_idle_timeout TO 0");
  limits = ShowLimits(admin.get());
  idle = LimitRow(limits, db, "client_idle_timeout");
  ASSERT_TRUE(idle) << limits.ToString();
  EXPECT_EQ(limits.Text(*idle, "value"), "off");
  EXPECT_EQ(limits.Text(*idle, "source"), "runtime");

  ExecOk(admin.get(), "RESET " + db + ".client_idle_timeout");
  limits = ShowLimits(admin.get());
  idle = LimitRow(limits, db, "client_idle_timeout");
  ASSERT_TRUE(idle) << limits.ToString();
  EXPECT_EQ(limits.Text(*idle, "value"), "1h");
  EXPECT_EQ(limits.Text(*idle, "source"), "config");
}

TEST_F(LimitsTest, RuntimeLimitsSurviveARestartAndResetRemovesThem) {
  const std::string db = FreshDatabase();
  {
    PgConn admin = ConnectAdmin();
    ExecOk(admin.get(), "SET " + db + ".client_idle_timeout = '1s' EXCEPT USER replicator, \"Odd User\" FORCE");
    ExecOk(admin.get(), "SET " + db + ".query_timeout = '7min'");
  }
  ASSERT_EQ(pgvalve().StopAndCheck(), "");
  pgvalve().Start();

  PgConn admin = ConnectAdmin();
  ResultTable limits = ShowLimits(admin.get());
  const auto idle = LimitRow(limits, db, "client_idle_timeout");
  const auto query = LimitRow(limits, db, "query_timeout");
  ASSERT_TRUE(idle && query) << limits.ToString();
  EXPECT_EQ(limits.Text(*idle, "value"), "1s");
  EXPECT_EQ(limits.Text(*idle, "except_users"), "replicator, Odd User");
  EXPECT_EQ(limits.Text(*idle, "source"), "runtime");
  EXPECT_EQ(limits.Text(*query, "value"), "7m");

  // And enforced again, not only listed.
  PgConn client = ConnectClient(db);
  EXPECT_TRUE(WaitUntilGone(checker_.get(), BackendPid(client.get())));

  ExecOk(admin.get(), "RESET " + db + ".ALL");
  limits = ShowLimits(admin.get());
  EXPECT_FALSE(LimitRow(limits, db, "client_idle_timeout")) << limits.ToString();
  EXPECT_FALSE(LimitRow(limits, db, "query_timeout")) << limits.ToString();
  admin.reset();
  ASSERT_EQ(pgvalve().StopAndCheck(), "");
  pgvalve().Start();
  admin = ConnectAdmin();
  EXPECT_FALSE(LimitRow(ShowLimits(admin.get()), db, "client_idle_timeout"))
      << "RESET was not saved";
}

TEST_F(LimitsTest, SetNeedsAKnownDatabaseAndTheAdminRole) {
  PgConn admin = ConnectAdmin();
  const QueryOutcome unknown = RunQuery(admin.get(), "SET no_such_database.query_timeout = '1s'");
  EXPECT_EQ(unknown.sqlstate, "3D000") << unknown.Describe();
  EXPECT_NE(unknown.detail.find("FORCE"), std::string::npos) << unknown.Describe();
  ExecOk(admin.get(), "SET no_such_database.query_timeout = '1s' FORCE");
  EXPECT_TRUE(LimitRow(ShowLimits(admin.get()), "no_such_database", "query_timeout"));

  const QueryOutcome syntax = RunQuery(admin.get(), "SET no_such_database.query_timeout '1s'");
  EXPECT_EQ(syntax.sqlstate, "42601") << syntax.Describe();
  EXPECT_NE(syntax.message.find("expected = or TO"), std::string::npos) << syntax.Describe();
  const QueryOutcome unknown_limit = RunQuery(admin.get(), "SET no_such_database.statement_timeout = '1s'");
  EXPECT_EQ(unknown_limit.sqlstate, "42704") << unknown_limit.Describe();

  PgConn monitor = ConnectAdmin(kMonitorUser, kMonitorPassword);
  const QueryOutcome denied = RunQuery(monitor.get(), "RESET no_such_database.query_timeout");
  EXPECT_EQ(denied.sqlstate, "42501") << denied.Describe();
  EXPECT_TRUE(LimitRow(ShowLimits(monitor.get()), "no_such_database", "query_timeout"))
      << "monitors may look";

  ExecOk(admin.get(), "RESET no_such_database.query_timeout");
  EXPECT_FALSE(LimitRow(ShowLimits(admin.get()), "no_such_database", "query_timeout"));
  // Resetting what is not set is no error, as in PostgreSQL.
  ExecOk(admin.get(), "RESET no_such_database.query_timeout");
}

TEST_F(LimitsTest, ShowHelpListsTheLimitCommandsWithTheirRoles) {
  PgConn monitor = ConnectAdmin(kMonitorUser, kMonitorPassword);
  const ResultTable help = QueryTable(monitor.get(), "SHOW HELP");
  for (const auto& [verb, role] : {std::pair{"SET", "admin"}, std::pair{"RESET", "admin"},
                                   std::pair{"SHOW LIMITS", "monitor"}}) {
    const auto row = help.FindRow("command", verb);
    ASSERT_TRUE(row) << verb << " missing from SHOW HELP:\n" << help.ToString();
    EXPECT_EQ(help.Text(*row, "role"), role) << verb;
  }
}

}  // namespace
}  // namespace pgvalve::test
