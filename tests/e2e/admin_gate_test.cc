// DISABLE/ENABLE and PAUSE/RESUME from the admin console, against a real
// PostgreSQL 15: who is refused, who keeps going, what is held and when it
// is released.

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <string>
#include <thread>

#include "tests/e2e/admin_test_support.h"

namespace pgvalve::test {

AdminPgvalveOptions SharedPgvalveOptions(const PgServer&) { return {}; }

namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

class GateTest : public AdminConsoleTest {};

TEST_F(GateTest, DisableRefusesNewSessionsButNotRunningOnesOrExceptedRoles) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn running = ConnectClient(db);

  ExecOk(admin.get(), "DISABLE " + db + " EXCEPT ROLE app_user REASON 'maintenance window'");

  const ConnectOutcome refused = TryConnect(pgvalve().ClientConnString(db));
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.sqlstate, "55000") << refused.error;
  EXPECT_NE(refused.error.find("FATAL:  database \"" + db +
                               "\" is not currently accepting connections"),
            std::string::npos)
      << refused.error;
  EXPECT_NE(refused.error.find("DETAIL:  maintenance window"), std::string::npos) << refused.error;

  EXPECT_EQ(ScalarString(running.get(), "SELECT 40 + 2"), "42");
  EXPECT_EQ(ScalarString(running.get(), "SELECT current_database()"), db);

  ConnectOutcome excepted = TryConnect(pgvalve().ClientConnString(db, kAppUser));
  ASSERT_TRUE(excepted.ok()) << excepted.error;
  EXPECT_EQ(ScalarString(excepted.conn.get(), "SELECT current_user"), "app_user");

  EXPECT_EQ(DatabaseColumn(admin.get(), db, "state"), "disabled");
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "disable_reason"), "maintenance window");
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "except_roles"), "app_user");

  ExecOk(admin.get(), "ENABLE " + db);
  ConnectOutcome again = TryConnect(pgvalve().ClientConnString(db));
  ASSERT_TRUE(again.ok()) << again.error;
  EXPECT_EQ(ScalarString(again.conn.get(), "SELECT 1"), "1");
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "state"), "enabled");
}

TEST_F(GateTest, DisableWithoutReasonStillRefusesWith55000) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  // No session has named db yet: FORCE.
  ExecOk(admin.get(), "DISABLE " + db + " FORCE");
  const ConnectOutcome refused = TryConnect(pgvalve().ClientConnString(db, kAppUser));
  EXPECT_EQ(refused.sqlstate, "55000") << refused.error;
  // Other databases are not affected.
  const std::string other = FreshDatabase("other");
  ConnectOutcome elsewhere = TryConnect(pgvalve().ClientConnString(other));
  EXPECT_TRUE(elsewhere.ok()) << elsewhere.error;
  ExecOk(admin.get(), "ENABLE " + db);
}

// A name pgvalve does not know is most likely a typo: DISABLE must not
// report success while the database meant stays open.
TEST_F(GateTest, DisableOfANameNobodyKnowsIsRefusedUnlessForced) {
  PgConn admin = ConnectAdmin();
  const std::string misspelled = "no_such_database_for_disable";
  const QueryOutcome refused = RunQuery(admin.get(), "DISABLE " + misspelled);
  EXPECT_EQ(refused.sqlstate, "3D000") << refused.Describe();
  EXPECT_NE(refused.message.find("database \"" + misspelled + "\" is not known to pgvalve"),
            std::string::npos)
      << refused.Describe();
  EXPECT_NE(refused.detail.find("FORCE"), std::string::npos) << refused.Describe();
  EXPECT_EQ(DatabaseColumn(admin.get(), misspelled, "state"), "<none>");
  EXPECT_EQ(RunQuery(admin.get(), "ENABLE " + misspelled).sqlstate, "3D000");

  // "*" routes databases; it is not one, and "disabled" on its row would
  // be a lie about every database it routes.
  const QueryOutcome star = RunQuery(admin.get(), "DISABLE \"*\"");
  EXPECT_EQ(star.sqlstate, "3D000") << star.Describe();
  EXPECT_NE(star.detail.find("DISABLE ALL"), std::string::npos) << star.Describe();
  EXPECT_EQ(DatabaseColumn(admin.get(), "*", "state"), "enabled");

  // A real database nobody has connected to yet: FORCE disables it.
  const std::string future = FreshDatabase("future");
  EXPECT_EQ(RunQuery(admin.get(), "DISABLE " + future).sqlstate, "3D000");
  ExecOk(admin.get(), "DISABLE " + future + " FORCE REASON 'not yet'");
  const ConnectOutcome forced = TryConnect(pgvalve().ClientConnString(future));
  EXPECT_EQ(forced.sqlstate, "55000") << forced.error;
  EXPECT_EQ(DatabaseColumn(admin.get(), future, "state"), "disabled");
  ExecOk(admin.get(), "ENABLE " + future);
  EXPECT_TRUE(TryConnect(pgvalve().ClientConnString(future)).ok());

  // A database with a session is known without FORCE.
  const std::string live = FreshDatabase("live");
  PgConn client = ConnectClient(live);
  ExecOk(admin.get(), "DISABLE " + live);
  EXPECT_EQ(TryConnect(pgvalve().ClientConnString(live)).sqlstate, "55000");
  ExecOk(admin.get(), "ENABLE " + live);
}

// PAUSE and RESUME treat names as DISABLE does: a typo must not report a
// pause (or a resume) while the database meant goes on (or stays held).
TEST_F(GateTest, PauseAndResumeOfANameNobodyKnowsAreRefusedUnlessForced) {
  PgConn admin = ConnectAdmin();
  const std::string misspelled = "no_such_database_for_pause";
  for (const std::string command : {"PAUSE ", "RESUME "}) {
    const QueryOutcome refused = RunQuery(admin.get(), command + misspelled);
    EXPECT_EQ(refused.sqlstate, "3D000") << command << refused.Describe();
    EXPECT_NE(refused.message.find("database \"" + misspelled + "\" is not known to pgvalve"),
              std::string::npos)
        << refused.Describe();
    EXPECT_NE(refused.detail.find(command + misspelled + " FORCE"), std::string::npos)
        << refused.Describe();
    // Refused by name, whatever else the statement says.
    EXPECT_EQ(RunQuery(admin.get(), command + "\"*\"").sqlstate, "3D000") << command;
  }
  EXPECT_EQ(RunQuery(admin.get(), "PAUSE " + misspelled + " TIMEOUT '1s'").sqlstate, "3D000");
  EXPECT_EQ(DatabaseColumn(admin.get(), misspelled, "state"), "<none>");
  EXPECT_EQ(DatabaseColumn(admin.get(), "*", "state"), "enabled");

  // A real database nobody has connected to yet: FORCE pauses it, and
  // from then on pgvalve knows it, so RESUME needs no FORCE.
  const std::string future = FreshDatabase("future");
  EXPECT_EQ(RunQuery(admin.get(), "PAUSE " + future).sqlstate, "3D000");
  ExecOk(admin.get(), "PAUSE " + future + " FORCE");
  EXPECT_EQ(DatabaseColumn(admin.get(), future, "state"), "paused");
  Background<ConnectOutcome> held = ConnectInBackground(pgvalve().ClientConnString(future));
  ASSERT_TRUE(WaitUntil([&] { return DatabaseColumn(admin.get(), future, "held") == "1"; }))
      << QueryTable(admin.get(), "SHOW DATABASES").ToString();
  ExecOk(admin.get(), "RESUME " + future);
  ASSERT_TRUE(held.WaitFor(kHangGuard)) << "still held after RESUME";
  EXPECT_TRUE(held.Result().ok()) << held.Result().error;

  // FORCE is accepted with the other options, and by RESUME too.
  const std::string other = FreshDatabase("other");
  ExecOk(admin.get(), "PAUSE " + other + " FORCE TIMEOUT '5s'");
  ExecOk(admin.get(), "RESUME " + other + " FORCE");
  const ConnectOutcome resumed = TryConnect(pgvalve().ClientConnString(other));
  EXPECT_TRUE(resumed.ok()) << resumed.error;
}

TEST_F(GateTest, DisableAllRefusesEveryDatabaseButTheExceptedOnesUntilEnableAll) {
  const std::string first = FreshDatabase("first");
  const std::string second = FreshDatabase("second");
  const std::string kept = FreshDatabase("kept");
  PgConn admin = ConnectAdmin();
  NoticeLog notices(admin.get());
  PgConn running = ConnectClient(first);
  PgConn kept_session = ConnectClient(kept);
  // The pgvalve is shared: whatever happens here, leave every database open.
  struct EnableAllAtExit {
    PGconn* admin;
    ~EnableAllAtExit() { RunQuery(admin, "ENABLE ALL"); }
  } enable_all_at_exit{admin.get()};

  EXPECT_EQ(RunQuery(admin.get(), "DISABLE ALL EXCEPT no_such_database_" + kept).sqlstate, "3D000");
  ExecOk(admin.get(), "DISABLE ALL EXCEPT " + kept + " EXCEPT ROLE app_user REASON 'incident'");

  // Both routed by "*", one seen before and one not; and one made after.
  const std::string later = FreshDatabase("later");
  for (const std::string& db : {first, second, later}) {
    const ConnectOutcome refused = TryConnect(pgvalve().ClientConnString(db));
    EXPECT_EQ(refused.sqlstate, "55000") << db << ": " << refused.error;
    EXPECT_NE(refused.error.find("DETAIL:  incident"), std::string::npos) << refused.error;
    EXPECT_TRUE(TryConnect(pgvalve().ClientConnString(db, kAppUser)).ok()) << db;
  }
  EXPECT_TRUE(TryConnect(pgvalve().ClientConnString(kept)).ok());
  EXPECT_EQ(ScalarString(running.get(), "SELECT 1"), "1");

  // SHOW DATABASES says what the gates do.
  EXPECT_EQ(DatabaseColumn(admin.get(), first, "state"), "disabled (all)");
  EXPECT_EQ(DatabaseColumn(admin.get(), first, "disable_reason"), "incident");
  EXPECT_EQ(DatabaseColumn(admin.get(), first, "except_roles"), "app_user");
  EXPECT_EQ(DatabaseColumn(admin.get(), "*", "state"), "disabled (all)");
  EXPECT_EQ(DatabaseColumn(admin.get(), kept, "state"), "enabled");

  // ENABLE of one database does not lift DISABLE ALL, and says so.
  ASSERT_TRUE(notices.notices().empty());
  ExecOk(admin.get(), "ENABLE " + first);
  ASSERT_EQ(notices.notices().size(), 1u);
  EXPECT_NE(notices.notices()[0].message.find("stays disabled"), std::string::npos);
  EXPECT_EQ(TryConnect(pgvalve().ClientConnString(first)).sqlstate, "55000");

  ExecOk(admin.get(), "ENABLE ALL");
  for (const std::string& db : {first, second, later}) {
    const ConnectOutcome accepted = TryConnect(pgvalve().ClientConnString(db));
    EXPECT_TRUE(accepted.ok()) << db << ": " << accepted.error;
  }
  EXPECT_EQ(DatabaseColumn(admin.get(), first, "state"), "enabled");
  EXPECT_EQ(DatabaseColumn(admin.get(), "*", "state"), "enabled");
}

TEST_F(GateTest, PauseWaitsForOpenTransactionsThenHoldsRequestsAndNewSessionsUntilResume) {
  const std::string db = FreshDatabase();
  pg().RunSql("CREATE TABLE t (writer int)", db);
  PgConn admin = ConnectAdmin();

  std::array<PgConn, 3> writers;
  for (size_t i = 0; i < writers.size(); ++i) {
    writers[i] = ConnectClient(db);
    ExecOk(writers[i].get(), "BEGIN");
    ExecOk(writers[i].get(), "INSERT INTO t VALUES (" + std::to_string(i) + ")");
  }
  PgConn idle = ConnectClient(db);
  const std::string idle_id = ClientId(admin.get(), idle.get());

  PgConn pauser = ConnectAdmin();
  NoticeLog pause_notices(pauser.get());
  Background<QueryOutcome> pause = QueryInBackground(pauser.get(), "PAUSE " + db);

  // PAUSE is under way, and says so in a NOTICE while it waits.
  ASSERT_TRUE(WaitUntil([&] { return DatabaseColumn(admin.get(), db, "state") == "pausing"; }))
      << QueryTable(admin.get(), "SHOW DATABASES").ToString();
  ASSERT_TRUE(WaitUntil([&] { return !pause_notices.notices().empty(); }))
      << "PAUSE sent no NOTICE while waiting";

  // The writers commit one after the other; PAUSE must still be waiting
  // when the last COMMIT is sent, since that writer is still in its
  // transaction.
  bool pause_done_before_last_commit = false;
  steady_clock::time_point last_commit_sent;
  for (size_t i = 0; i < writers.size(); ++i) {
    if (i + 1 == writers.size()) {
      pause_done_before_last_commit = pause.done();
      EXPECT_EQ(DatabaseColumn(admin.get(), db, "state"), "pausing");
      last_commit_sent = steady_clock::now();
    }
    // Commits are inside a transaction, so the pause lets them through.
    Background<QueryOutcome> commit = QueryInBackground(writers[i].get(), "COMMIT");
    ASSERT_TRUE(commit.WaitFor(kHangGuard)) << "COMMIT of writer " << i << " was held";
    EXPECT_TRUE(commit.Result().ok()) << commit.Result().Describe();
  }
  EXPECT_FALSE(pause_done_before_last_commit)
      << "PAUSE returned while a session was still in a transaction: "
      << (pause.done() ? pause.Result().Describe() : "");
  ASSERT_TRUE(pause.WaitFor(kHangGuard)) << "PAUSE did not return after the last COMMIT";
  EXPECT_TRUE(pause.Result().ok()) << pause.Result().Describe();
  EXPECT_GE(pause.finished_at(), last_commit_sent);

  // Progress NOTICEs came while PAUSE waited, naming the database.
  const auto received = pause_notices.notices();
  ASSERT_FALSE(received.empty());
  EXPECT_NE(received.front().message.find(db), std::string::npos) << received.front().message;
  EXPECT_LE(received.front().received, last_commit_sent);
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "state"), "paused");

  // An idle session's next request is held, not refused.
  Background<QueryOutcome> held_query = QueryInBackground(idle.get(), "SELECT count(*) FROM t");
  EXPECT_TRUE(WaitForClientState(admin.get(), idle_id, "held"))
      << ShowClients(admin.get()).ToString();

  // So is a new session, before it reaches PostgreSQL.
  Background<ConnectOutcome> held_connect = ConnectInBackground(pgvalve().ClientConnString(db));
  EXPECT_TRUE(WaitUntil([&] { return DatabaseColumn(admin.get(), db, "held") == "2"; }))
      << QueryTable(admin.get(), "SHOW DATABASES").ToString();
  // Both are counted as held, so neither may have completed.
  EXPECT_FALSE(held_query.done()) << "query ran while paused";
  EXPECT_FALSE(held_connect.done()) << "connection completed while paused";

  ExecOk(admin.get(), "RESUME " + db);
  ASSERT_TRUE(held_query.WaitFor(kHangGuard)) << "held query not released by RESUME";
  EXPECT_TRUE(held_query.Result().ok()) << held_query.Result().Describe();
  if (held_query.Result().ok()) {
    EXPECT_EQ(held_query.Result().table.Text(0, "count"), "3");
  }
  ASSERT_TRUE(held_connect.WaitFor(kHangGuard)) << "held connection not released by RESUME";
  ConnectOutcome& connected = held_connect.Result();
  ASSERT_TRUE(connected.ok()) << connected.error;
  EXPECT_EQ(ScalarString(connected.conn.get(), "SELECT count(*) FROM t"), "3");
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "state"), "enabled");
  EXPECT_EQ(ClientState(admin.get(), idle_id), "idle");
}

TEST_F(GateTest, PauseWithTimeoutResumesAndNamesTheSessionStillInATransaction) {
  const std::string db = FreshDatabase();
  pg().RunSql("CREATE TABLE t (x int)", db);
  PgConn admin = ConnectAdmin();
  PgConn open = ConnectClient(db);
  const int32_t backend_pid = BackendPid(open.get());
  const std::string client_id = ClientId(admin.get(), open.get());
  ExecOk(open.get(), "BEGIN");
  ExecOk(open.get(), "INSERT INTO t VALUES (1)");

  const auto started = steady_clock::now();
  Background<QueryOutcome> pause = QueryInBackground(admin.get(), "PAUSE " + db + " TIMEOUT '1s'");
  ASSERT_TRUE(pause.WaitFor(kHangGuard)) << "PAUSE ... TIMEOUT '1s' did not return";
  const QueryOutcome& outcome = pause.Result();
  EXPECT_GE(pause.finished_at() - started, 1s) << "gave up before its timeout";
  ASSERT_FALSE(outcome.ok()) << "PAUSE succeeded with a transaction still open";
  EXPECT_FALSE(outcome.sqlstate.empty());
  const std::string text = outcome.message + "\n" + outcome.detail;
  EXPECT_NE(text.find("client " + client_id), std::string::npos) << outcome.Describe();
  EXPECT_NE(text.find(std::to_string(backend_pid)), std::string::npos) << outcome.Describe();

  EXPECT_EQ(DatabaseColumn(admin.get(), db, "state"), "enabled");
  // Nothing is held: the open transaction goes on, new sessions come in.
  Background<QueryOutcome> commit = QueryInBackground(open.get(), "INSERT INTO t VALUES (2); COMMIT");
  ASSERT_TRUE(commit.WaitFor(kHangGuard)) << "query held after the timed-out PAUSE";
  EXPECT_TRUE(commit.Result().ok()) << commit.Result().Describe();
  Background<QueryOutcome> next = QueryInBackground(open.get(), "SELECT count(*) FROM t");
  ASSERT_TRUE(next.WaitFor(kHangGuard)) << "query held after the timed-out PAUSE";
  ASSERT_TRUE(next.Result().ok()) << next.Result().Describe();
  EXPECT_EQ(next.Result().table.Text(0, "count"), "2");
  Background<ConnectOutcome> fresh = ConnectInBackground(pgvalve().ClientConnString(db));
  ASSERT_TRUE(fresh.WaitFor(kHangGuard));
  EXPECT_TRUE(fresh.Result().ok()) << fresh.Result().error;
}

TEST_F(GateTest, KillEndsAHeldSessionWithoutWaitingForResume) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn idle = ConnectClient(db);
  const std::string idle_id = ClientId(admin.get(), idle.get());
  Background<QueryOutcome> pause = QueryInBackground(admin.get(), "PAUSE " + db);
  ASSERT_TRUE(pause.WaitFor(kHangGuard));
  ASSERT_TRUE(pause.Result().ok()) << pause.Result().Describe();

  Background<QueryOutcome> held = QueryInBackground(idle.get(), "SELECT 1");
  ASSERT_TRUE(WaitForClientState(admin.get(), idle_id, "held"));
  Background<ConnectOutcome> held_connect = ConnectInBackground(pgvalve().ClientConnString(db));
  ASSERT_TRUE(WaitUntil([&] { return DatabaseColumn(admin.get(), db, "held") == "2"; }));
  const ResultTable clients = ShowClients(admin.get());
  std::string connecting_id;
  for (size_t row = 0; row < clients.size(); ++row) {
    if (clients.Text(row, "database") == db && clients.Text(row, "id") != idle_id) {
      connecting_id = clients.Text(row, "id");
    }
  }
  ASSERT_FALSE(connecting_id.empty()) << clients.ToString();

  ExecOk(admin.get(), "KILL " + idle_id);
  ExecOk(admin.get(), "KILL " + connecting_id);
  ASSERT_TRUE(held.WaitFor(kHangGuard)) << "killed session still held";
  EXPECT_EQ(held.Result().sqlstate, "57P01") << held.Result().Describe();
  ASSERT_TRUE(held_connect.WaitFor(kHangGuard)) << "killed connection still held";
  EXPECT_EQ(held_connect.Result().sqlstate, "57P01") << held_connect.Result().error;
  // Still paused once the killed sessions are gone (while they end they
  // may show as "pausing").
  EXPECT_TRUE(WaitUntil([&] { return DatabaseColumn(admin.get(), db, "state") == "paused"; }))
      << QueryTable(admin.get(), "SHOW DATABASES").ToString();
  ExecOk(admin.get(), "RESUME " + db);
}

TEST_F(GateTest, PauseOfAQuietDatabaseReturnsAtOnceAndResumeReleases) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn idle = ConnectClient(db);
  Background<QueryOutcome> pause = QueryInBackground(admin.get(), "PAUSE " + db);
  ASSERT_TRUE(pause.WaitFor(kHangGuard));
  EXPECT_TRUE(pause.Result().ok()) << pause.Result().Describe();
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "state"), "paused");
  ExecOk(admin.get(), "RESUME " + db);
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "state"), "enabled");
  Background<QueryOutcome> query = QueryInBackground(idle.get(), "SELECT 1");
  ASSERT_TRUE(query.WaitFor(kHangGuard)) << "query held after RESUME";
  EXPECT_TRUE(query.Result().ok()) << query.Result().Describe();
}

}  // namespace
}  // namespace pgvalve::test
