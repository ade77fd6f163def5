// DRAIN's acceptance scenario against a real PostgreSQL 15: a database with
// idle sessions, open transactions, long statements and direct connections
// is emptied within GRACE plus a small margin, every session gets the
// outcome it should, PostgreSQL confirms nothing is left (DROP DATABASE
// works), and new sessions are refused during and after the drain. Also:
// each session is reported once when INCLUDING DIRECT looks for backends
// that did not come through pgvalve.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tests/e2e/drain_test_support.h"

namespace pgvalve::test {
namespace {

// Routed through an upstream of its own, whose control connection the
// first DRAIN of this database has to open first.
constexpr std::string_view kLingeringDatabase = "drain_lingering_backends";

}  // namespace

AdminPgvalveOptions SharedPgvalveOptions(const PgServer& pg) {
  AdminPgvalveOptions options;
  options.extra_toml = UpstreamToml("cold", pg) + RouteToml(kLingeringDatabase, "cold");
  return options;
}

namespace {

using std::chrono::steady_clock;

class DrainAcceptanceTest : public DrainTest {};

TEST_F(DrainAcceptanceTest, TerminateIncludingDirectEmptiesTheDatabaseWithinGracePlusThreeSeconds) {
  constexpr double kGraceSeconds = 2;
  constexpr double kMarginSeconds = 3;
  const std::string db = "victim";
  pg().CreateDatabase(db);
  pg().RunSql("CREATE TABLE work (session int)", db);

  PgConn admin = ConnectAdmin();
  NoticeLog progress(admin.get());
  PgConn watcher = ConnectAdmin();
  PgConn superuser = ConnectDirect("postgres");

  std::vector<DrainedSession> idle, in_transaction, sleepers, direct;
  for (int i = 0; i < 8; ++i) idle.push_back(OpenIdle(db));
  for (int i = 0; i < 6; ++i) {
    in_transaction.push_back(
        OpenInTransaction(db, "INSERT INTO work VALUES (" + std::to_string(i) + ")"));
  }
  for (int i = 0; i < 6; ++i) sleepers.push_back(OpenSleeper(db));
  for (int i = 0; i < 3; ++i) direct.push_back(OpenDirect(db));
  ASSERT_TRUE(WaitForActiveQueries(superuser.get(), db, kSleepQuery, 6))
      << "the six pg_sleep(600) never all ran";
  ASSERT_EQ(ActivityCount(superuser.get(), db), 23);

  // Client ids as SHOW CLIENTS has them, to check the report's.
  std::map<int32_t, std::string> client_id_of;
  for (auto* group : {&idle, &in_transaction, &sleepers}) {
    for (const DrainedSession& session : *group) {
      client_id_of[session.backend_pid] = ClientId(watcher.get(), session.get());
    }
  }

  const auto started = steady_clock::now();
  Background<QueryOutcome> drain =
      QueryInBackground(admin.get(), "DRAIN victim GRACE '2s' THEN TERMINATE INCLUDING DIRECT");

  // While it runs, a new session is refused, from another thread.
  ASSERT_TRUE(WaitForDrainPhase(watcher.get(), db, "grace"))
      << "SHOW DRAINS never showed the drain in its grace phase";
  Background<ConnectOutcome> during = ConnectInBackground(pgvalve().ClientConnString(db));
  const ConnectOutcome& refused_during = during.Result();
  EXPECT_FALSE(refused_during.ok());
  EXPECT_EQ(refused_during.sqlstate, "55000") << refused_during.error;

  const QueryOutcome& outcome = drain.Result();
  const double elapsed = SecondsBetween(started, drain.finished_at());
  ASSERT_TRUE(outcome.ok()) << outcome.Describe();
  EXPECT_LT(during.finished_at(), drain.finished_at())
      << "the refused connection attempt did not happen while the drain ran";
  EXPECT_LE(elapsed, kGraceSeconds + kMarginSeconds);
  // The open transactions and statements were given their GRACE.
  EXPECT_GE(elapsed, kGraceSeconds);

  // The report: one row per session, with the outcome of its kind.
  const ResultTable& report = outcome.table;
  // One row per session: an idle session closed at the start is not listed
  // again as a direct backend (see IncludingDirectReportsEachPgvalveSessionOnce).
  EXPECT_EQ(report.size(), 23u) << report.ToString();
  const std::map<std::string, int> expected_counts = {{"closed idle", 8}, {"terminated", 15}};
  EXPECT_EQ(CountOutcomes(report), expected_counts) << report.ToString();
  struct Expectation {
    const std::vector<DrainedSession>* sessions;
    const char* state_at_start;
    const char* outcome;
  };
  for (const Expectation& kind : {Expectation{&idle, "idle", "closed idle"},
                                  Expectation{&in_transaction, "idle in transaction", "terminated"},
                                  Expectation{&sleepers, "active", "terminated"},
                                  Expectation{&direct, "idle", "terminated"}}) {
    for (const DrainedSession& session : *kind.sessions) {
      const std::optional<size_t> row = ReportRowOf(report, session.backend_pid);
      ASSERT_TRUE(row) << "no report row for backend pid " << session.backend_pid << "\n"
                       << report.ToString();
      EXPECT_EQ(report.Text(*row, "outcome"), kind.outcome) << report.ToString();
      EXPECT_EQ(report.Text(*row, "state_at_start"), kind.state_at_start) << report.ToString();
      EXPECT_EQ(report.Text(*row, "user"), "postgres");
      if (kind.sessions == &direct) {
        EXPECT_EQ(report.Get(*row, "client_id"), std::nullopt) << report.ToString();
      } else {
        EXPECT_EQ(report.Text(*row, "client_id"), client_id_of[session.backend_pid])
            << report.ToString();
      }
      // Only what was idle may go before GRACE; nothing is terminated early.
      const double seconds = std::stod(report.Text(*row, "seconds"));
      if (std::string(kind.outcome) == "terminated") {
        EXPECT_GE(seconds, kGraceSeconds) << report.ToString();
      } else {
        EXPECT_LT(seconds, kGraceSeconds) << report.ToString();
      }
    }
  }

  // PostgreSQL agrees: nothing is left, and the database can go.
  EXPECT_EQ(ActivityCount(superuser.get(), db), 0);
  const ConnectOutcome refused_after = TryConnect(pgvalve().ClientConnString(db));
  EXPECT_EQ(refused_after.sqlstate, "55000") << refused_after.error;
  const QueryOutcome dropped = RunQuery(superuser.get(), "DROP DATABASE victim");
  EXPECT_TRUE(dropped.ok()) << dropped.Describe();

  // Progress came while it ran.
  const auto notices = progress.notices();
  ASSERT_FALSE(notices.empty()) << "DRAIN sent no progress NOTICE in " << elapsed << " s";
  EXPECT_NE(notices.front().message.find(db), std::string::npos) << notices.front().message;
  EXPECT_LT(notices.front().received, drain.finished_at());

  // Every client saw its connection end.
  for (const DrainedSession& session : idle) {
    EXPECT_TRUE(AwaitClosed(session.get(), kHangGuard)) << "idle session left open";
    // Closed by pgvalve, which says why before it hangs up.
    EXPECT_TRUE(session.ReceivedFatal("57P01")) << session.DescribeNotices();
  }
  for (const auto* group : {&in_transaction, &direct}) {
    for (const DrainedSession& session : *group) {
      EXPECT_TRUE(AwaitClosed(session.get(), kHangGuard)) << "session left open";
      EXPECT_TRUE(session.ReceivedFatal("57P01")) << session.DescribeNotices();
    }
  }
  for (const DrainedSession& session : sleepers) {
    const std::optional<QueryOutcome> slept = AwaitOutcome(session.get(), kHangGuard);
    ASSERT_TRUE(slept) << "pg_sleep(600) still running after the drain";
    EXPECT_EQ(slept->sqlstate, "57P01") << slept->Describe();
    EXPECT_TRUE(AwaitClosed(session.get(), kHangGuard)) << "sleeping session left open";
  }
}

// pgvalve lets an idle session go at once, before its backend has left
// pg_stat_activity: a backend with many temporary tables to drop takes a
// while to, and the drain may meanwhile be opening its control connection.
// Such a session must not come back as a direct backend.
TEST_F(DrainAcceptanceTest, IncludingDirectReportsEachPgvalveSessionOnce) {
  const std::string db(kLingeringDatabase);
  pg().CreateDatabase(db);
  PgConn admin = ConnectAdmin();
  std::vector<DrainedSession> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(OpenIdle(db));
    ExecOk(idle.back().get(),
           "DO $$ BEGIN FOR i IN 1..500 LOOP "
           "EXECUTE format('CREATE TEMP TABLE t%s (x int)', i); END LOOP; END $$");
  }
  DrainedSession direct = OpenDirect(db);

  const QueryOutcome outcome = RunQuery(admin.get(), "DRAIN " + db + " GRACE '1s' INCLUDING DIRECT");
  ASSERT_TRUE(outcome.ok()) << outcome.Describe();
  const ResultTable& report = outcome.table;
  // DrainJob::Start asks the server for direct backends after it has closed
  // the idle sessions, whose backends may still be exiting: they must not
  // be listed a second time as direct backends.
  EXPECT_EQ(report.size(), 5u) << report.ToString();
  const std::map<std::string, int> expected_counts = {{"closed idle", 4}, {"terminated", 1}};
  EXPECT_EQ(CountOutcomes(report), expected_counts) << report.ToString();
  EXPECT_EQ(OutcomeOf(report, direct.backend_pid), "terminated") << report.ToString();
}

}  // namespace
}  // namespace pgvalve::test
