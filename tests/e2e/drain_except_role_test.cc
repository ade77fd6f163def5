// Which sessions a DRAIN takes: EXCEPT ROLE (neither refused nor drained)
// and filter clauses (only the matching sessions are drained).

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/e2e/drain_test_support.h"

namespace pgvalve::test {

AdminPgvalveOptions SharedPgvalveOptions(const PgServer&) { return {}; }

namespace {

using std::chrono::steady_clock;

class DrainExceptRoleTest : public DrainTest {};

TEST_F(DrainExceptRoleTest, ExceptedRoleIsNeitherRefusedNorDrained) {
  const std::string db = FreshDatabase();
  pg().RunSql("CREATE TABLE work (step text); GRANT ALL ON work TO app_user", db);
  PgConn admin = ConnectAdmin();

  DrainedSession excepted_idle = OpenIdle(db, kAppUser);
  DrainedSession excepted_writer =
      OpenInTransaction(db, "INSERT INTO work VALUES ('excepted')", kAppUser);
  DrainedSession drained = OpenIdle(db);

  // Default GRACE (30 s): finishing well before it shows the drain did not
  // wait for the excepted sessions.
  const auto started = steady_clock::now();
  const QueryOutcome outcome = RunQuery(admin.get(), "DRAIN " + db + " EXCEPT ROLE app_user");
  ASSERT_TRUE(outcome.ok()) << outcome.Describe();
  EXPECT_LT(SecondsBetween(started, outcome.finished), 10);
  EXPECT_EQ(outcome.table.size(), 1u) << outcome.table.ToString();
  EXPECT_EQ(OutcomeOf(outcome.table, drained.backend_pid), "closed idle")
      << outcome.table.ToString();
  EXPECT_TRUE(AwaitClosed(drained.get(), kHangGuard));

  // The excepted sessions keep working, and the role may still connect.
  EXPECT_EQ(ScalarString(excepted_idle.get(), "SELECT current_user"), "app_user");
  const QueryOutcome commit = RunQuery(excepted_writer.get(), "COMMIT");
  EXPECT_TRUE(commit.ok()) << commit.Describe();
  EXPECT_EQ(pg().QueryScalar("SELECT count(*) FROM work", db), "1");
  ConnectOutcome newcomer = TryConnect(pgvalve().ClientConnString(db, kAppUser));
  ASSERT_TRUE(newcomer.ok()) << newcomer.error;
  EXPECT_EQ(ScalarString(newcomer.conn.get(), "SELECT 1"), "1");
  // Everyone else is refused.
  EXPECT_EQ(TryConnect(pgvalve().ClientConnString(db)).sqlstate, "55000");
}

TEST_F(DrainExceptRoleTest, ExceptedRoleConnectingDuringADrainIncludingDirectIsLeftAlone) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn watcher = ConnectAdmin();
  // Keeps the drain in its grace phase until it terminates this one.
  DrainedSession open = OpenInTransaction(db, "SELECT 1");

  // The newcomer must connect within GRACE; 5 s leaves room for a machine
  // busy starting other tests' servers.
  Background<QueryOutcome> drain = QueryInBackground(
      admin.get(), "DRAIN " + db + " GRACE '5s' INCLUDING DIRECT EXCEPT ROLE app_user");
  // The drain has begun once the database is refused.
  ASSERT_TRUE(WaitUntil([&] { return DatabaseColumn(watcher.get(), db, "state") == "disabled"; }))
      << "SHOW DATABASES: " << QueryTable(watcher.get(), "SHOW DATABASES").ToString();
  // Not refused: the role is excepted.
  DrainedSession newcomer = OpenIdle(db, kAppUser);
  EXPECT_FALSE(drain.done()) << "the drain ended before GRACE: " << drain.Result().Describe();

  const QueryOutcome& outcome = drain.Result();
  ASSERT_TRUE(outcome.ok()) << outcome.Describe();
  EXPECT_EQ(OutcomeOf(outcome.table, open.backend_pid), "terminated") << outcome.table.ToString();
  // Not taken for a direct backend ("connected during drain") and
  // terminated at GRACE, although it connected after the drain began.
  EXPECT_FALSE(ReportRowOf(outcome.table, newcomer.backend_pid)) << outcome.table.ToString();
  const QueryOutcome still = RunQuery(newcomer.get(), "SELECT current_user");
  EXPECT_TRUE(still.ok()) << still.Describe() << "\n" << newcomer.DescribeNotices();
}

TEST_F(DrainExceptRoleTest, FilterDrainsOnlyTheMatchingSessions) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  DrainedSession batch = OpenIdle(db, kAppUser);
  DrainedSession web = OpenIdle(db);
  PgConn direct_batch = ConnectDirect(db, kAppUser);
  const int32_t direct_batch_pid = BackendPid(direct_batch.get());
  PgConn direct_other = ConnectDirect(db);
  const int32_t direct_other_pid = BackendPid(direct_other.get());

  const std::string drain = "DRAIN " + db + " USER app_user INCLUDING DIRECT GRACE '1s'";
  const ResultTable plan = QueryTable(admin.get(), drain + " DRY RUN");
  EXPECT_EQ(plan.Text(*plan.FindRow("backend_pid", std::to_string(web.backend_pid)), "would"),
            "left alone (does not match the filter)")
      << plan.ToString();
  EXPECT_EQ(plan.Text(*plan.FindRow("backend_pid", std::to_string(direct_other_pid)), "would"),
            "left alone (direct connection that does not match the filter)")
      << plan.ToString();
  EXPECT_EQ(plan.Text(*plan.FindRow("backend_pid", std::to_string(batch.backend_pid)), "would"),
            "close now")
      << plan.ToString();

  const QueryOutcome outcome = RunQuery(admin.get(), drain);
  ASSERT_TRUE(outcome.ok()) << outcome.Describe();
  EXPECT_EQ(outcome.table.size(), 2u) << outcome.table.ToString();
  EXPECT_EQ(OutcomeOf(outcome.table, batch.backend_pid), "closed idle") << outcome.table.ToString();
  EXPECT_EQ(OutcomeOf(outcome.table, direct_batch_pid), "terminated") << outcome.table.ToString();
  EXPECT_TRUE(AwaitClosed(batch.get(), kHangGuard));

  // The others go on; new sessions are refused all the same.
  EXPECT_EQ(ScalarString(web.get(), "SELECT 'web'"), "web");
  EXPECT_EQ(ScalarString(direct_other.get(), "SELECT 'direct'"), "direct");
  EXPECT_EQ(TryConnect(pgvalve().ClientConnString(db)).sqlstate, "55000");
}

}  // namespace
}  // namespace pgvalve::test
