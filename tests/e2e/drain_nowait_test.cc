// DRAIN as a job: NOWAIT, SHOW DRAINS, SHOW DRAIN, CANCEL DRAIN.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "tests/e2e/drain_test_support.h"

namespace pgvalve::test {

AdminPgvalveOptions SharedPgvalveOptions(const PgServer&) { return {}; }

namespace {

using namespace std::chrono_literals;

class DrainNowaitTest : public DrainTest {};

TEST_F(DrainNowaitTest, NowaitReturnsAJobThatShowDrainsFollowsAndCancelDrainStops) {
  const std::string db = FreshDatabase();
  pg().RunSql("CREATE TABLE work (step text)", db);
  PgConn admin = ConnectAdmin();

  DrainedSession idle = OpenIdle(db);
  DrainedSession writer = OpenInTransaction(db, "INSERT INTO work VALUES ('before the drain')");

  const auto sent = std::chrono::steady_clock::now();
  const QueryOutcome started = RunQuery(admin.get(), "DRAIN " + db + " GRACE '60s' NOWAIT");
  ASSERT_TRUE(started.ok()) << started.Describe();
  // Answered at once, not after the 60 s of GRACE.
  EXPECT_LT(SecondsBetween(sent, started.finished), 10);
  ASSERT_EQ(started.table.size(), 1u) << started.table.ToString();
  const std::string job_id = started.table.Text(0, "job_id");
  EXPECT_EQ(started.table.Text(0, "database"), db);

  // The idle session goes at once; the transaction holds the job in grace.
  EXPECT_TRUE(AwaitClosed(idle.get(), kHangGuard)) << "the idle session was left open";
  std::optional<std::map<std::string, std::string>> job;
  ASSERT_TRUE(WaitUntil([&] {
    job = LatestDrainOf(admin.get(), db);
    return job && job->at("left") == "1";
  })) << "SHOW DRAINS: "
      << QueryTable(admin.get(), "SHOW DRAINS").ToString();
  EXPECT_EQ(job->at("job_id"), job_id);
  EXPECT_EQ(job->at("phase"), "grace");
  EXPECT_EQ(job->at("then"), "TERMINATE");
  EXPECT_EQ(job->at("backends"), "2");
  EXPECT_NE(job->at("progress").find(db), std::string::npos) << job->at("progress");
  EXPECT_NE(job->at("progress").find("1 session"), std::string::npos) << job->at("progress");

  const QueryOutcome cancelled = RunQuery(admin.get(), "CANCEL DRAIN " + job_id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.Describe();
  // The job has acted on the cancel once SHOW DRAIN says so.
  ASSERT_TRUE(WaitUntil([&] {
    const auto cancelled_job = DrainById(admin.get(), job_id);
    return cancelled_job && cancelled_job->at("phase") == "cancelled";
  })) << "SHOW DRAINS: "
      << QueryTable(admin.get(), "SHOW DRAINS").ToString();

  // The database stays refused...
  const ConnectOutcome refused = TryConnect(pgvalve().ClientConnString(db));
  EXPECT_EQ(refused.sqlstate, "55000") << refused.error;
  // ...but the transaction is no longer asked to go: it goes on, commits,
  // and its session stays usable after the commit.
  const QueryOutcome more = RunQuery(writer.get(), "INSERT INTO work VALUES ('after the cancel')");
  EXPECT_TRUE(more.ok()) << more.Describe();
  const QueryOutcome commit = RunQuery(writer.get(), "COMMIT");
  EXPECT_TRUE(commit.ok()) << commit.Describe();
  const QueryOutcome after = RunQuery(writer.get(), "SELECT count(*) FROM work");
  ASSERT_TRUE(after.ok()) << after.Describe() << "\n" << writer.DescribeNotices();
  EXPECT_EQ(after.table.Text(0, "count"), "2");
  EXPECT_EQ(pg().QueryScalar("SELECT count(*) FROM work", db), "2");

  // The job outlives its run: SHOW DRAINS, SHOW DRAIN and CANCEL DRAIN
  // still read it once it has ended (a NOWAIT job whose coroutine freed it
  // showed a garbage database name here).
  std::optional<std::map<std::string, std::string>> ended;
  ASSERT_TRUE(WaitUntil([&] {
    ended = DrainById(admin.get(), job_id);
    return ended && ended->at("phase") == "cancelled";
  })) << "SHOW DRAINS: "
      << QueryTable(admin.get(), "SHOW DRAINS").ToString();
  EXPECT_EQ(ended->at("database"), db);
  EXPECT_NE(ended->at("progress").find(db), std::string::npos) << ended->at("progress");

  const ResultTable report = QueryTable(admin.get(), "SHOW DRAIN " + job_id);
  EXPECT_EQ(OutcomeOf(report, idle.backend_pid), "closed idle") << report.ToString();
  const std::string writer_outcome = OutcomeOf(report, writer.backend_pid);
  EXPECT_EQ(writer_outcome.find("closed"), std::string::npos) << report.ToString();
  EXPECT_NE(writer_outcome, "terminated") << report.ToString();

  // An ended job cannot be cancelled again.
  const QueryOutcome again = RunQuery(admin.get(), "CANCEL DRAIN " + job_id);
  EXPECT_EQ(again.sqlstate, "55000") << again.Describe();
}

}  // namespace
}  // namespace pgvalve::test
