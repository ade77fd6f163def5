// DRAIN ... DRY RUN: what a drain would meet that outlives a transaction
// (advisory locks, temporary tables, LISTEN, prepared transactions), found
// without changing anything.

#include <gtest/gtest.h>

#include <string>

#include "tests/e2e/drain_test_support.h"

namespace pgvalve::test {

AdminPgvalveOptions SharedPgvalveOptions(const PgServer&) { return {}; }

namespace {

class DrainDryRunTest : public DrainTest {
 protected:
  // Prepared transactions need max_prepared_transactions > 0, which only
  // takes effect at a server start; this runs before the binary's pgvalve
  // exists.
  static void SetUpTestSuite() {
    PgServer& server = pg();
    if (server.QueryScalar("SHOW max_prepared_transactions") == "0") {
      server.RunSql("ALTER SYSTEM SET max_prepared_transactions = 5");
      server.StopPostmaster();
      server.StartPostmaster();
    }
  }
};

TEST_F(DrainDryRunTest, NamesWhatOutlivesATransactionAndChangesNothing) {
  ASSERT_EQ(pg().QueryScalar("SHOW max_prepared_transactions"), "5");
  const std::string db = FreshDatabase();
  pg().RunSql("CREATE TABLE work (step text)", db);
  PgConn admin = ConnectAdmin();
  PgConn notifier = ConnectDirect(db);

  DrainedSession locker = OpenIdle(db);
  ExecOk(locker.get(), "SELECT pg_advisory_lock(1)");
  DrainedSession temp = OpenIdle(db);
  ExecOk(temp.get(), "CREATE TEMP TABLE t (x int)");
  ExecOk(temp.get(), "INSERT INTO t VALUES (7)");
  DrainedSession listener = OpenIdle(db);
  ExecOk(listener.get(), "LISTEN ch");
  {
    PgConn preparer = ConnectDirect(db);
    ExecOk(preparer.get(), "BEGIN");
    ExecOk(preparer.get(), "INSERT INTO work VALUES ('prepared')");
    ExecOk(preparer.get(), "PREPARE TRANSACTION 'drain_dry_run_gid'");
  }

  const QueryOutcome plan = RunQuery(admin.get(), "DRAIN " + db + " DRY RUN");
  ASSERT_TRUE(plan.ok()) << plan.Describe();
  const ResultTable& rows = plan.table;

  const std::optional<size_t> locker_row = ReportRowOf(rows, locker.backend_pid);
  ASSERT_TRUE(locker_row) << rows.ToString();
  EXPECT_NE(rows.Text(*locker_row, "holds").find("advisory"), std::string::npos) << rows.ToString();

  const std::optional<size_t> temp_row = ReportRowOf(rows, temp.backend_pid);
  ASSERT_TRUE(temp_row) << rows.ToString();
  const std::string temp_holds = rows.Text(*temp_row, "holds");
  EXPECT_NE(temp_holds.find("temporary tables: t"), std::string::npos) << rows.ToString();

  const std::optional<size_t> listener_row = ReportRowOf(rows, listener.backend_pid);
  ASSERT_TRUE(listener_row) << rows.ToString();
  EXPECT_NE(rows.Text(*listener_row, "holds").find("LISTEN: ch"), std::string::npos)
      << rows.ToString();

  EXPECT_NE(rows.ToString().find("drain_dry_run_gid"), std::string::npos)
      << "no row names the prepared transaction:\n"
      << rows.ToString();

  // Nothing changed: the database admits sessions, and each session still
  // has its lock, its table and its channel.
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "state"), "enabled");
  ConnectOutcome newcomer = TryConnect(pgvalve().ClientConnString(db));
  ASSERT_TRUE(newcomer.ok()) << newcomer.error;
  EXPECT_EQ(ScalarString(locker.get(), "SELECT pg_advisory_unlock(1)"), "t");
  EXPECT_EQ(ScalarString(temp.get(), "SELECT x FROM t"), "7");
  ExecOk(notifier.get(), "NOTIFY ch, 'still listening'");
  PGnotify* notification = nullptr;
  EXPECT_TRUE(WaitUntil([&] {
    PQconsumeInput(listener.get());
    notification = PQnotifies(listener.get());
    return notification != nullptr;
  })) << "the listener no longer gets notifications";
  if (notification != nullptr) {
    EXPECT_STREQ(notification->relname, "ch");
    EXPECT_STREQ(notification->extra, "still listening");
    PQfreemem(notification);
  }
  for (const DrainedSession* session : {&locker, &temp, &listener}) {
    EXPECT_TRUE(session->notices->notices().empty()) << session->DescribeNotices();
  }
  EXPECT_EQ(QueryTable(admin.get(), "SHOW DRAINS").size(), 0u);

  ExecOk(notifier.get(), "COMMIT PREPARED 'drain_dry_run_gid'");
  EXPECT_EQ(pg().QueryScalar("SELECT count(*) FROM work", db), "1");
}

}  // namespace
}  // namespace pgvalve::test
