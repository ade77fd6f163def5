// What DRAIN does with sessions that are not idle: a transaction that
// commits during GRACE keeps its work; THEN CANCEL cancels statements and
// closes sessions at their next idle point; a backend that cannot be
// terminated makes the drain fail at TIMEOUT, naming it.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "tests/e2e/drain_test_support.h"

namespace pgvalve::test {
namespace {

// Routed through a control user that may not signal a superuser's backend:
// no superuser, not a member of pg_signal_backend.
constexpr std::string_view kStubbornDatabase = "drain_stubborn";
constexpr std::string_view kWeakControlUser = "drain_weak_control";

}  // namespace

AdminPgvalveOptions SharedPgvalveOptions(const PgServer& pg) {
  AdminPgvalveOptions options;
  options.extra_toml =
      UpstreamToml("weak", pg, kWeakControlUser) + RouteToml(kStubbornDatabase, "weak");
  return options;
}

namespace {

using std::chrono::steady_clock;

class DrainEscalationTest : public DrainTest {};

TEST_F(DrainEscalationTest, TransactionCommittingDuringGraceKeepsItsWorkAndIsClosedAfterCommit) {
  constexpr double kGraceSeconds = 20;
  const std::string db = FreshDatabase();
  pg().RunSql("CREATE TABLE work (step text)", db);
  PgConn admin = ConnectAdmin();
  PgConn watcher = ConnectAdmin();

  DrainedSession idle = OpenIdle(db);
  DrainedSession writer = OpenInTransaction(db, "INSERT INTO work VALUES ('before the drain')");

  const auto started = steady_clock::now();
  Background<QueryOutcome> drain = QueryInBackground(admin.get(), "DRAIN " + db + " GRACE '20s'");
  ASSERT_TRUE(WaitForDrainPhase(watcher.get(), db, "grace"));

  // The transaction goes on during GRACE and commits.
  const QueryOutcome more = RunQuery(writer.get(), "INSERT INTO work VALUES ('during grace')");
  EXPECT_TRUE(more.ok()) << more.Describe();
  const QueryOutcome commit = RunQuery(writer.get(), "COMMIT");
  EXPECT_TRUE(commit.ok()) << commit.Describe();

  const QueryOutcome& outcome = drain.Result();
  ASSERT_TRUE(outcome.ok()) << outcome.Describe();
  // Done once the commit closed the session, not at GRACE.
  EXPECT_LT(SecondsBetween(started, drain.finished_at()), kGraceSeconds);
  const ResultTable& report = outcome.table;
  EXPECT_EQ(report.size(), 2u) << report.ToString();
  EXPECT_EQ(OutcomeOf(report, writer.backend_pid), "closed after commit") << report.ToString();
  EXPECT_EQ(OutcomeOf(report, idle.backend_pid), "closed idle") << report.ToString();

  EXPECT_EQ(pg().QueryScalar("SELECT string_agg(step, ', ' ORDER BY step) FROM work", db),
            "before the drain, during grace");
  EXPECT_TRUE(AwaitClosed(writer.get(), kHangGuard)) << "the committed session was left open";
  EXPECT_TRUE(writer.ReceivedFatal("57P01")) << writer.DescribeNotices();
  EXPECT_TRUE(AwaitClosed(idle.get(), kHangGuard)) << "the idle session was left open";
}

TEST_F(DrainEscalationTest, ThenCancelCancelsStatementsAndClosesSessionsAtTheirNextIdlePoint) {
  constexpr double kGraceSeconds = 1;
  constexpr double kMarginSeconds = 3;
  const std::string db = FreshDatabase();
  pg().RunSql("CREATE TABLE work (session int)", db);
  PgConn admin = ConnectAdmin();
  PgConn superuser = ConnectDirect("postgres");

  std::vector<DrainedSession> sleepers;
  for (int i = 0; i < 2; ++i) sleepers.push_back(OpenSleeper(db));
  DrainedSession open = OpenInTransaction(db, "INSERT INTO work VALUES (1)");
  ASSERT_TRUE(WaitForActiveQueries(superuser.get(), db, kSleepQuery, 2));

  const auto started = steady_clock::now();
  const QueryOutcome outcome = RunQuery(admin.get(), "DRAIN " + db + " GRACE '1s' THEN CANCEL");
  const double elapsed = SecondsBetween(started, outcome.finished);
  ASSERT_TRUE(outcome.ok()) << outcome.Describe();
  EXPECT_GE(elapsed, kGraceSeconds);
  EXPECT_LE(elapsed, kGraceSeconds + kMarginSeconds);

  const ResultTable& report = outcome.table;
  EXPECT_EQ(report.size(), 3u) << report.ToString();
  for (const DrainedSession& sleeper : sleepers) {
    EXPECT_EQ(OutcomeOf(report, sleeper.backend_pid), "cancelled") << report.ToString();
    // The statement is cancelled, not the backend terminated...
    const std::optional<QueryOutcome> slept = AwaitOutcome(sleeper.get(), kHangGuard);
    ASSERT_TRUE(slept) << "pg_sleep(600) still running after the drain";
    EXPECT_EQ(slept->sqlstate, "57014") << slept->Describe();
    // ...and the session closed by pgvalve once it is answered.
    EXPECT_TRUE(AwaitClosed(sleeper.get(), kHangGuard)) << "cancelled session left open";
    EXPECT_TRUE(sleeper.ReceivedFatal("57P01")) << sleeper.DescribeNotices();
  }
  EXPECT_EQ(OutcomeOf(report, open.backend_pid), "cancelled") << report.ToString();
  EXPECT_TRUE(AwaitClosed(open.get(), kHangGuard)) << "idle-in-transaction session left open";
  EXPECT_TRUE(open.ReceivedFatal("57P01")) << open.DescribeNotices();

  EXPECT_EQ(ActivityCount(superuser.get(), db), 0);
  // The open transaction was rolled back, not committed.
  EXPECT_EQ(pg().QueryScalar("SELECT count(*) FROM work", db), "0");
}

TEST_F(DrainEscalationTest, TimeoutWithARefusedTerminateFailsNamingTheSessionThatStayed) {
  constexpr double kTimeoutSeconds = 3;
  constexpr double kMarginSeconds = 3;
  const std::string db(kStubbornDatabase);
  const std::string control_user(kWeakControlUser);
  pg().RunSql("CREATE ROLE " + control_user + " LOGIN");
  pg().CreateDatabase(db);
  pg().RunSql("GRANT CONNECT ON DATABASE " + db + " TO " + control_user);
  ASSERT_EQ(pg().QueryScalar("SELECT format('%s %s', rolsuper, pg_has_role(oid, "
                             "'pg_signal_backend', 'MEMBER')) FROM pg_roles WHERE rolname = '" +
                             control_user + "'"),
            "f f");

  PgConn admin = ConnectAdmin();
  PgConn watcher = ConnectAdmin();
  PgConn superuser = ConnectDirect("postgres");
  // A superuser's statement: the control user may not terminate it.
  DrainedSession stubborn = OpenSleeper(db);
  ASSERT_TRUE(WaitForActiveQueries(superuser.get(), db, kSleepQuery, 1));
  const std::string client_id = ClientId(watcher.get(), stubborn.get());

  const auto started = steady_clock::now();
  const QueryOutcome failed = RunQuery(admin.get(), "DRAIN " + db + " GRACE '1s' TIMEOUT '3s'");
  const double elapsed = SecondsBetween(started, failed.finished);
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(failed.sqlstate, "55006") << failed.Describe();
  EXPECT_GE(elapsed, kTimeoutSeconds);
  EXPECT_LE(elapsed, kTimeoutSeconds + kMarginSeconds);
  const std::string text = failed.message + "\n" + failed.detail;
  EXPECT_NE(text.find("client " + client_id), std::string::npos) << failed.Describe();
  EXPECT_NE(text.find("backend pid " + std::to_string(stubborn.backend_pid)), std::string::npos)
      << failed.Describe();
  // The refusal, in PostgreSQL's words.
  EXPECT_NE(text.find("superuser"), std::string::npos) << failed.Describe();

  const auto job = LatestDrainOf(watcher.get(), db);
  ASSERT_TRUE(job) << "SHOW DRAINS has no drain of " << db;
  EXPECT_EQ(job->at("phase"), "timed out");
  const ResultTable report = QueryTable(watcher.get(), "SHOW DRAIN " + job->at("job_id"));
  const std::optional<size_t> row = ReportRowOf(report, stubborn.backend_pid);
  ASSERT_TRUE(row) << report.ToString();
  EXPECT_EQ(report.Text(*row, "outcome"), "still present") << report.ToString();
  EXPECT_EQ(report.Text(*row, "client_id"), client_id) << report.ToString();
  EXPECT_NE(report.Text(*row, "note").find("superuser"), std::string::npos) << report.ToString();

  // The statement is still running; end it from PostgreSQL's side.
  EXPECT_EQ(ActivityCount(superuser.get(), db), 1);
  EXPECT_EQ(ScalarString(superuser.get(), "SELECT pg_terminate_backend(" +
                                              std::to_string(stubborn.backend_pid) + ")"),
            "t");
  const std::optional<QueryOutcome> slept = AwaitOutcome(stubborn.get(), kHangGuard);
  ASSERT_TRUE(slept);
  EXPECT_EQ(slept->sqlstate, "57P01") << slept->Describe();
}

}  // namespace
}  // namespace pgvalve::test
