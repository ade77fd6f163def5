// Filters on SHOW CLIENTS, CANCEL, TERMINATE and KILL against a real
// PostgreSQL 15: the operator's classic recipes ("cancel what has run for
// more than N", "terminate what sits in a transaction") as one command,
// their DRY RUN, and each filter clause picking the right sessions.

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "tests/e2e/admin_test_support.h"

namespace pgvalve::test {

AdminPgvalveOptions SharedPgvalveOptions(const PgServer&) { return {}; }

namespace {

using IdSet = std::set<std::string>;

class FiltersTest : public AdminConsoleTest {
 protected:
  void SetUp() override {
    AdminConsoleTest::SetUp();
    checker_ = ConnectDirect("postgres");
  }

  static PgConn ConnectWithApplication(std::string_view db, std::string_view user,
                                       std::string_view application) {
    return Connect(pgvalve().ClientConnString(db, user, "application_name=" + std::string(application)));
  }

  // The client ids a statement lists (SHOW CLIENTS's "id", the actions'
  // "client_id"); NULL ids (direct backends) are left out.
  static IdSet Ids(PGconn* admin, const std::string& statement) {
    const ResultTable rows = QueryTable(admin, statement);
    const std::string column = rows.HasColumn("id") ? "id" : "client_id";
    IdSet ids;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (std::optional<std::string> id = rows.Get(i, column)) ids.insert(*id);
    }
    return ids;
  }

  // Waits until PostgreSQL itself has seen each pid in its current query
  // (`clock` = query_start) or transaction (xact_start) for longer than
  // `seconds`; pgvalve's own clocks started before PostgreSQL's.
  bool WaitForAge(const std::vector<int32_t>& pids, std::string_view clock, double seconds) {
    std::string list;
    for (int32_t pid : pids) list += (list.empty() ? "" : ",") + std::to_string(pid);
    const std::string sql = "SELECT count(*) FROM pg_stat_activity WHERE pid IN (" + list +
                            ") AND now() - " + std::string(clock) + " > interval '" +
                            std::to_string(seconds) + " s'";
    return WaitUntil([&] { return ScalarString(checker_.get(), sql) == std::to_string(pids.size()); });
  }

  PgConn checker_;
};

// The recipe: three sessions through pgvalve (one in pg_sleep, one
// idle in a transaction, one idle) and one direct session in pg_sleep.
TEST_F(FiltersTest, CancelLongRunningThenTerminateLongTransactions) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();

  PgConn direct = ConnectDirect(db);
  const int32_t direct_pid = BackendPid(direct.get());
  Background<QueryOutcome> direct_query = QueryInBackground(direct.get(), "SELECT pg_sleep(30)");
  PgConn sleeper = ConnectClient(db);
  const int32_t sleeper_pid = BackendPid(sleeper.get());
  const std::string sleeper_id = ClientId(admin.get(), sleeper.get());
  Background<QueryOutcome> sleeper_query = QueryInBackground(sleeper.get(), "SELECT pg_sleep(30)");
  PgConn in_transaction = ConnectClient(db);
  const int32_t in_transaction_pid = BackendPid(in_transaction.get());
  const std::string in_transaction_id = ClientId(admin.get(), in_transaction.get());
  ExecOk(in_transaction.get(), "BEGIN");
  ExecOk(in_transaction.get(), "CREATE TEMP TABLE held_open (x int)");
  PgConn idle = ConnectClient(db);
  const std::string idle_id = ClientId(admin.get(), idle.get());

  ASSERT_TRUE(WaitForBackendActive(checker_.get(), direct_pid));
  ASSERT_TRUE(WaitForBackendActive(checker_.get(), sleeper_pid));
  ASSERT_TRUE(WaitForAge({direct_pid, sleeper_pid}, "query_start", 2.3));
  ASSERT_TRUE(WaitForAge({in_transaction_pid}, "xact_start", 2.3));

  const std::string cancel =
      "CANCEL DATABASE " + db + " STATE active RUNNING LONGER THAN '2s' INCLUDING DIRECT";
  const ResultTable preview = QueryTable(admin.get(), cancel + " DRY RUN");
  ASSERT_EQ(preview.size(), 2u) << preview.ToString();
  const auto sleeper_row = preview.FindRow("backend_pid", std::to_string(sleeper_pid));
  const auto direct_row = preview.FindRow("backend_pid", std::to_string(direct_pid));
  ASSERT_TRUE(sleeper_row && direct_row) << preview.ToString();
  EXPECT_EQ(preview.Text(*sleeper_row, "client_id"), sleeper_id);
  EXPECT_EQ(preview.Get(*direct_row, "client_id"), std::nullopt);
  for (size_t row : {*sleeper_row, *direct_row}) {
    EXPECT_EQ(preview.Text(row, "result"), "would cancel");
    EXPECT_EQ(preview.Text(row, "state"), "active");
    EXPECT_EQ(preview.Text(row, "query"), "SELECT pg_sleep(30)");
    EXPECT_GT(std::stod(preview.Text(row, "state_seconds")), 2.0) << preview.ToString();
  }
  // A preview touches nothing.
  EXPECT_FALSE(sleeper_query.done());
  EXPECT_FALSE(direct_query.done());

  PgResult cancelled = ExecOk(admin.get(), cancel);
  EXPECT_STREQ(PQcmdStatus(cancelled.get()), "CANCEL 2");
  const ResultTable outcome(cancelled.get());
  ASSERT_EQ(outcome.size(), 2u) << outcome.ToString();
  for (size_t row = 0; row < outcome.size(); ++row) {
    EXPECT_EQ(outcome.Text(row, "result"), "cancelled") << outcome.ToString();
  }
  EXPECT_EQ(sleeper_query.Result().sqlstate, "57014") << sleeper_query.Result().Describe();
  EXPECT_EQ(direct_query.Result().sqlstate, "57014") << direct_query.Result().Describe();
  // The open transaction was not hit: its temporary table is still there.
  EXPECT_EQ(ScalarString(in_transaction.get(), "SELECT count(*) FROM held_open"), "0");
  EXPECT_EQ(ClientState(admin.get(), in_transaction_id), "idle in transaction");

  const ResultTable terminated = QueryTable(
      admin.get(), "TERMINATE DATABASE " + db +
                       " STATE 'idle in transaction' IN TRANSACTION LONGER THAN '2s' INCLUDING DIRECT");
  ASSERT_EQ(terminated.size(), 1u) << terminated.ToString();
  EXPECT_EQ(terminated.Text(0, "client_id"), in_transaction_id);
  EXPECT_EQ(terminated.Text(0, "backend_pid"), std::to_string(in_transaction_pid));
  EXPECT_EQ(terminated.Text(0, "result"), "terminated, verified gone");
  EXPECT_EQ(terminated.Text(0, "gone"), "t");
  EXPECT_TRUE(WaitUntilGone(checker_.get(), in_transaction_pid));
  EXPECT_EQ(RunQuery(in_transaction.get(), "SELECT 1").sqlstate, "57P01");

  // Everyone else goes on.
  EXPECT_EQ(ScalarString(sleeper.get(), "SELECT 'sleeper'"), "sleeper");
  EXPECT_EQ(ScalarString(idle.get(), "SELECT 'idle'"), "idle");
  EXPECT_EQ(ScalarString(direct.get(), "SELECT 'direct'"), "direct");
  EXPECT_EQ(Ids(admin.get(), "SHOW CLIENTS DATABASE " + db), (IdSet{sleeper_id, idle_id}));
}

TEST_F(FiltersTest, UserApplicationClientAndExceptUserSelect) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn batch = ConnectWithApplication(db, kSuperuser, "batch_7");
  PgConn web = ConnectWithApplication(db, kAppUser, "web");
  PgConn plain = ConnectClient(db, kAppUser);
  const std::string batch_id = ClientId(admin.get(), batch.get());
  const std::string web_id = ClientId(admin.get(), web.get());
  const std::string plain_id = ClientId(admin.get(), plain.get());
  // Elsewhere: never picked by a DATABASE target.
  const std::string other_db = FreshDatabase("other");
  PgConn other = ConnectWithApplication(other_db, kAppUser, "web");
  const std::string other_id = ClientId(admin.get(), other.get());

  const std::string on_db = "SHOW CLIENTS DATABASE " + db;
  EXPECT_EQ(Ids(admin.get(), on_db), (IdSet{batch_id, web_id, plain_id}));
  EXPECT_EQ(Ids(admin.get(), on_db + " USER app_user"), (IdSet{web_id, plain_id}));
  EXPECT_EQ(Ids(admin.get(), on_db + " USER app_user, postgres"), (IdSet{batch_id, web_id, plain_id}));
  EXPECT_EQ(Ids(admin.get(), on_db + " EXCEPT USER app_user"), (IdSet{batch_id}));
  EXPECT_EQ(Ids(admin.get(), on_db + " APPLICATION 'batch%'"), (IdSet{batch_id}));
  EXPECT_EQ(Ids(admin.get(), on_db + " APPLICATION 'batch\\_7'"), (IdSet{batch_id}));
  EXPECT_EQ(Ids(admin.get(), on_db + " APPLICATION 'we_'"), (IdSet{web_id}));
  EXPECT_EQ(Ids(admin.get(), on_db + " USER app_user APPLICATION 'web'"), (IdSet{web_id}));
  EXPECT_EQ(Ids(admin.get(), on_db + " CLIENT '127.0.0.0/8'"), (IdSet{batch_id, web_id, plain_id}));
  EXPECT_EQ(Ids(admin.get(), on_db + " CLIENT '127.0.0.1'"), (IdSet{batch_id, web_id, plain_id}));
  EXPECT_EQ(Ids(admin.get(), on_db + " CLIENT '10.0.0.0/8'"), IdSet{});
  EXPECT_EQ(Ids(admin.get(), on_db + " CLIENT 'unix'"), IdSet{});
  EXPECT_EQ(Ids(admin.get(), on_db + " STATE idle CONNECTED LONGER THAN '0s'"),
            (IdSet{batch_id, web_id, plain_id}));
  EXPECT_EQ(Ids(admin.get(), on_db + " CONNECTED LONGER THAN '1h'"), IdSet{});
  // ALL spans databases.
  EXPECT_EQ(Ids(admin.get(), "SHOW CLIENTS ALL APPLICATION 'web'"), (IdSet{web_id, other_id}));
  EXPECT_EQ(Ids(admin.get(), "SHOW CLIENTS APPLICATION 'web'"), (IdSet{web_id, other_id}));

  // The actions pick alike; their DRY RUN acts on nothing.
  EXPECT_EQ(Ids(admin.get(), "KILL DATABASE " + db + " APPLICATION 'web' DRY RUN"), (IdSet{web_id}));
  EXPECT_EQ(Ids(admin.get(), "TERMINATE ALL USER app_user EXCEPT USER app_user DRY RUN"), IdSet{});
  EXPECT_EQ(ScalarString(web.get(), "SELECT 'web'"), "web");
  // A dry run already tells what the real command would skip.
  const ResultTable idle_cancel = QueryTable(admin.get(), "CANCEL " + web_id + " DRY RUN");
  ASSERT_EQ(idle_cancel.size(), 1u) << idle_cancel.ToString();
  EXPECT_EQ(idle_cancel.Text(0, "result"), "skipped: not running a query");

  // INCLUDING DIRECT applies the same filter to pg_stat_activity.
  PgConn direct_app = ConnectDirect(db, kAppUser);
  const int32_t direct_app_pid = BackendPid(direct_app.get());
  PgConn direct_super = ConnectDirect(db);
  const int32_t direct_super_pid = BackendPid(direct_super.get());
  const ResultTable preview = QueryTable(
      admin.get(), "TERMINATE DATABASE " + db + " EXCEPT USER postgres INCLUDING DIRECT DRY RUN");
  std::set<std::string> pids;
  for (size_t i = 0; i < preview.size(); ++i) pids.insert(preview.Text(i, "backend_pid"));
  EXPECT_TRUE(pids.contains(std::to_string(direct_app_pid))) << preview.ToString();
  EXPECT_FALSE(pids.contains(std::to_string(direct_super_pid))) << preview.ToString();
  EXPECT_EQ(Ids(admin.get(), "TERMINATE DATABASE " + db + " EXCEPT USER postgres INCLUDING DIRECT DRY RUN"),
            (IdSet{web_id, plain_id}));

  // KILL by application ends exactly that session.
  const ResultTable killed = QueryTable(admin.get(), "KILL DATABASE " + db + " APPLICATION 'web'");
  ASSERT_EQ(killed.size(), 1u) << killed.ToString();
  EXPECT_EQ(killed.Text(0, "client_id"), web_id);
  EXPECT_EQ(RunQuery(web.get(), "SELECT 1").sqlstate, "57P01");
  EXPECT_EQ(ScalarString(plain.get(), "SELECT 'plain'"), "plain");
  EXPECT_EQ(ScalarString(other.get(), "SELECT 'other'"), "other");
}

// A logical replication walsender carries its database's name in
// pg_stat_activity, as autovacuum workers do, but it is no client session:
// INCLUDING DIRECT must never select it, and DRAIN must neither end it nor
// wait for it (a cutover drains a database while its changes stream out).
TEST_F(FiltersTest, BackgroundProcessesOfTheDatabaseAreNeverDirectClients) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn walsender = Connect(pg().ConnString(db) + " replication=database");
  const std::string walsender_pid = ScalarString(
      checker_.get(), "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walsender' AND datname = '" +
                          db + "'");
  PgConn direct = ConnectDirect(db);
  const int32_t direct_pid = BackendPid(direct.get());

  const ResultTable preview =
      QueryTable(admin.get(), "TERMINATE DATABASE " + db + " INCLUDING DIRECT DRY RUN");
  EXPECT_TRUE(preview.FindRow("backend_pid", std::to_string(direct_pid))) << preview.ToString();
  EXPECT_FALSE(preview.FindRow("backend_pid", walsender_pid)) << preview.ToString();

  const QueryOutcome drained = RunQuery(admin.get(), "DRAIN " + db + " GRACE '1s' INCLUDING DIRECT");
  ASSERT_TRUE(drained.ok()) << drained.Describe() << "\n" << drained.table.ToString();
  EXPECT_FALSE(drained.table.FindRow("backend_pid", walsender_pid)) << drained.table.ToString();
  EXPECT_TRUE(WaitUntilGone(checker_.get(), direct_pid));
  EXPECT_TRUE(BackendListed(checker_.get(), std::stoi(walsender_pid)));
  ExecOk(admin.get(), "ENABLE " + db);
}

TEST_F(FiltersTest, MalformedFiltersAreRefusedWithTheRightSqlState) {
  PgConn admin = ConnectAdmin();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"SHOW CLIENTS STATE sleeping", "22023"},
      {"SHOW CLIENTS CLIENT '10.0.0.1/8'", "22P02"},
      {"SHOW CLIENTS CLIENT 'not-an-address'", "22P02"},
      {"SHOW CLIENTS RUNNING LONGER THAN 'soon'", "22023"},
      {"CANCEL ALL RUNNING LONGER '2s'", "42601"},
      {"SHOW CLIENTS USER a USER b", "42601"},
      {"SHOW CLIENTS APPLICATION web", "42601"},
      {"CANCEL ALL INCLUDING DIRECT", "42601"},
      {"KILL ALL INCLUDING DIRECT", "42601"},
      {"TERMINATE DATABASE x DRY RUN DRY RUN", "42601"},
      {"SHOW CLIENTS STATE idle IDLE LONGER THAN '1s' STATE active", "42601"},
      {"SHOW CLIENTS DRY RUN", "42601"},
  };
  for (const auto& [statement, sqlstate] : cases) {
    const QueryOutcome outcome = RunQuery(admin.get(), statement);
    EXPECT_EQ(outcome.sqlstate, sqlstate) << statement << ": " << outcome.Describe();
  }
  // The console is still there.
  EXPECT_EQ(QueryTable(admin.get(), "SHOW VERSION").size(), 1u);
}

}  // namespace
}  // namespace pgvalve::test
