// What outlives a command: DISABLE and PAUSE across a restart (the state
// file), a RELOAD under running sessions, and SHUTDOWN SMART and FAST (and
// SIGTERM): the admin console stays open and shutdown_timeout bounds the
// wait.
// Every test runs a pgvalve of its own, since each ends or rewires it.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "tests/e2e/admin_test_support.h"
#include "tests/support/free_port.h"

namespace pgvalve::test {

AdminPgvalveOptions SharedPgvalveOptions(const PgServer&) { return {}; }

namespace {

using namespace std::chrono_literals;

class LifecycleTest : public AdminConsoleTest {
 protected:
  void TearDown() override {
    AdminConsoleTest::TearDown();
    if (own_) {
      EXPECT_EQ(own_->StopAndCheck(), "");
      own_.reset();
    }
  }

  AdminPgvalve& StartOwn(AdminPgvalveOptions options = {}) {
    own_ = std::make_unique<AdminPgvalve>(pg(), std::move(options));
    return *own_;
  }

  static PgConn Admin(AdminPgvalve& pgvalve, std::string_view user = kAdminUser,
                      std::string_view password = kAdminPassword) {
    return Connect(pgvalve.AdminConnString(user, password));
  }
  static PgConn Client(AdminPgvalve& pgvalve, std::string_view db,
                       std::string_view user = kSuperuser) {
    return Connect(pgvalve.ClientConnString(db, user));
  }

  std::unique_ptr<AdminPgvalve> own_;
};

TEST_F(LifecycleTest, DisableSurvivesARestart) {
  constexpr const char* kReason = R"(kept across "restarts", isn't it \ ok)";
  constexpr const char* kReasonLiteral = R"('kept across "restarts", isn''t it \ ok')";
  const std::string db = FreshDatabase();
  AdminPgvalve& pgvalve = StartOwn();
  {
    PgConn admin = Admin(pgvalve);
    // Quotes and a backslash must survive the trip through the state file.
    ExecOk(admin.get(), "DISABLE " + db + " FORCE EXCEPT ROLE app_user REASON " + kReasonLiteral);
  }
  ASSERT_EQ(pgvalve.StopAndCheck(), "");
  pgvalve.Start();

  const ConnectOutcome refused = TryConnect(pgvalve.ClientConnString(db));
  EXPECT_EQ(refused.sqlstate, "55000") << refused.error;
  EXPECT_NE(refused.error.find(std::string("DETAIL:  ") + kReason), std::string::npos)
      << refused.error;
  EXPECT_TRUE(TryConnect(pgvalve.ClientConnString(db, kAppUser)).ok());

  PgConn admin = Admin(pgvalve);
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "state"), "disabled");
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "state_origin"), "state file");
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "disable_reason"), kReason);
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "except_roles"), "app_user");

  // ENABLE is saved too: after one more restart the database stays open.
  ExecOk(admin.get(), "ENABLE " + db);
  admin.reset();
  ASSERT_EQ(pgvalve.StopAndCheck(), "");
  pgvalve.Start();
  const ConnectOutcome accepted = TryConnect(pgvalve.ClientConnString(db));
  EXPECT_TRUE(accepted.ok()) << accepted.error;
}

TEST_F(LifecycleTest, DisableAllSurvivesARestart) {
  const std::string db = FreshDatabase();
  const std::string kept = FreshDatabase("kept");
  AdminPgvalve& pgvalve = StartOwn();
  {
    PgConn admin = Admin(pgvalve);
    // This pgvalve has seen neither database: FORCE for the exception.
    ExecOk(admin.get(), "DISABLE ALL FORCE EXCEPT " + kept + " EXCEPT ROLE app_user REASON 'incident'");
  }
  ASSERT_EQ(pgvalve.StopAndCheck(), "");
  pgvalve.Start();

  const ConnectOutcome refused = TryConnect(pgvalve.ClientConnString(db));
  EXPECT_EQ(refused.sqlstate, "55000") << refused.error;
  EXPECT_NE(refused.error.find("DETAIL:  incident"), std::string::npos) << refused.error;
  EXPECT_TRUE(TryConnect(pgvalve.ClientConnString(db, kAppUser)).ok());
  EXPECT_TRUE(TryConnect(pgvalve.ClientConnString(kept)).ok());

  PgConn admin = Admin(pgvalve);
  EXPECT_EQ(DatabaseColumn(admin.get(), "*", "state"), "disabled (all)");
  EXPECT_EQ(DatabaseColumn(admin.get(), "*", "state_origin"), "state file");

  // ENABLE ALL is saved too.
  ExecOk(admin.get(), "ENABLE ALL");
  admin.reset();
  ASSERT_EQ(pgvalve.StopAndCheck(), "");
  pgvalve.Start();
  const ConnectOutcome accepted = TryConnect(pgvalve.ClientConnString(db));
  EXPECT_TRUE(accepted.ok()) << accepted.error;
}

TEST_F(LifecycleTest, PauseSurvivesARestart) {
  const std::string db = FreshDatabase();
  AdminPgvalve& pgvalve = StartOwn();
  {
    PgConn admin = Admin(pgvalve);
    // This pgvalve has not seen db yet: FORCE.
    ExecOk(admin.get(), "PAUSE " + db + " FORCE");
  }
  ASSERT_EQ(pgvalve.StopAndCheck(), "");
  pgvalve.Start();

  PgConn admin = Admin(pgvalve);
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "state_origin"), "state file");
  Background<ConnectOutcome> held = ConnectInBackground(pgvalve.ClientConnString(db));
  EXPECT_TRUE(WaitUntil([&] { return DatabaseColumn(admin.get(), db, "held") == "1"; }))
      << QueryTable(admin.get(), "SHOW DATABASES").ToString();
  EXPECT_FALSE(held.done());
  ExecOk(admin.get(), "RESUME " + db);
  ASSERT_TRUE(held.WaitFor(kHangGuard));
  EXPECT_TRUE(held.Result().ok()) << held.Result().error;
}

TEST_F(LifecycleTest, ReloadRoutesNewSessionsWhileRunningOnesKeepWorking) {
  const std::string db = FreshDatabase();
  AdminPgvalve& pgvalve = StartOwn();
  PgConn admin = Admin(pgvalve);
  PgConn before = Client(pgvalve, db);
  const std::string before_id = ClientId(admin.get(), before.get());
  ExecOk(before.get(), "BEGIN");
  ExecOk(before.get(), "CREATE TABLE t (x int)");

  AdminPgvalveOptions rerouted;
  rerouted.extra_toml = UpstreamToml("red", pg()) + RouteToml(db, "red");
  pgvalve.WriteConfig(rerouted);
  ExecOk(admin.get(), "RELOAD");

  EXPECT_EQ(DatabaseColumn(admin.get(), db, "upstream"), "red");
  PgConn after = Client(pgvalve, db);
  const ResultTable clients = ShowClients(admin.get());
  const auto after_row = clients.FindRow("id", ClientId(admin.get(), after.get()));
  const auto before_row = clients.FindRow("id", before_id);
  ASSERT_TRUE(after_row && before_row) << clients.ToString();
  EXPECT_EQ(clients.Text(*after_row, "upstream"), "red");
  EXPECT_EQ(clients.Text(*before_row, "upstream"), "blue");

  // The session that was running goes on, transaction and all.
  ExecOk(before.get(), "INSERT INTO t VALUES (1)");
  ExecOk(before.get(), "COMMIT");
  EXPECT_EQ(ScalarString(after.get(), "SELECT count(*) FROM t"), "1");

  // A file that does not validate is refused and the running config kept.
  AdminPgvalveOptions broken = rerouted;
  broken.hold_timeout = "whenever";
  pgvalve.WriteConfig(broken);
  const QueryOutcome refused = RunQuery(admin.get(), "RELOAD");
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message.find("hold_timeout"), std::string::npos) << refused.Describe();
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "upstream"), "red");
  EXPECT_TRUE(TryConnect(pgvalve.ClientConnString(db)).ok());
}

// A configuration file that does not load is a configuration-file error
// (F0000, as PostgreSQL reports one), never a protocol violation, and says
// what is wrong with the file; a SIGHUP with the same file keeps the old
// configuration and pgvalve serving.
TEST_F(LifecycleTest, BrokenConfigFileIsRefusedWithF0000AndTheOldConfigStays) {
  const std::string db = FreshDatabase();
  AdminPgvalve& pgvalve = StartOwn();
  PgConn admin = Admin(pgvalve);
  auto config_value = [&admin](std::string_view key) {
    const ResultTable config = QueryTable(admin.get(), "SHOW CONFIG");
    const auto row = config.FindRow("key", key);
    return row ? config.Text(*row, "value") : "<no row>";
  };
  const std::string hold_timeout = config_value("proxy.hold_timeout");

  AdminPgvalveOptions invalid;
  invalid.hold_timeout = "whenever";
  pgvalve.WriteConfig(invalid);
  const QueryOutcome refused = RunQuery(admin.get(), "RELOAD");
  EXPECT_EQ(refused.sqlstate, "F0000") << refused.Describe();
  EXPECT_NE(refused.message.find("hold_timeout"), std::string::npos) << refused.Describe();

  AdminPgvalveOptions unparsable;
  unparsable.extra_toml = "[upstreams.broken\n";
  pgvalve.WriteConfig(unparsable);
  const QueryOutcome unparsed = RunQuery(admin.get(), "RELOAD");
  EXPECT_EQ(unparsed.sqlstate, "F0000") << unparsed.Describe();
  EXPECT_NE(unparsed.message.find(pgvalve.config_path()), std::string::npos) << unparsed.Describe();
  EXPECT_NE(unparsed.message.find("syntax error"), std::string::npos) << unparsed.Describe();

  const size_t failures_before = CountOccurrences(pgvalve.process().Log(), "reload failed");
  pgvalve.process().Signal(SIGHUP);
  EXPECT_TRUE(WaitUntil([&] {
    return CountOccurrences(pgvalve.process().Log(), "reload failed") > failures_before;
  })) << pgvalve.process().LogTail();
  EXPECT_TRUE(pgvalve.process().IsRunning());
  PgConn client = Client(pgvalve, db);
  EXPECT_EQ(ScalarString(client.get(), "SELECT 1"), "1");
  EXPECT_EQ(config_value("proxy.hold_timeout"), hold_timeout);
}

TEST_F(LifecycleTest, ShutdownSmartServesConnectedClientsAndExitsWhenTheyLeave) {
  const std::string db = FreshDatabase();
  AdminPgvalve& pgvalve = StartOwn();
  PgConn client = Client(pgvalve, db);
  {
    PgConn monitor = Admin(pgvalve, kMonitorUser, kMonitorPassword);
    EXPECT_EQ(RunQuery(monitor.get(), "SHUTDOWN SMART").sqlstate, "42501");
  }
  EXPECT_EQ(ScalarString(client.get(), "SELECT 'before'"), "before");
  {
    PgConn admin = Admin(pgvalve);
    PgResult result = ExecOk(admin.get(), "SHUTDOWN SMART");
    EXPECT_STREQ(PQcmdStatus(result.get()), "SHUTDOWN");
  }

  // New connections are no longer accepted ...
  EXPECT_TRUE(WaitUntil([&] { return !TryConnect(pgvalve.ClientConnString(db)).ok(); }))
      << "pgvalve still accepts connections after SHUTDOWN SMART";
  // ... while the connected client is served as before, for as long as it
  // stays.
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(200ms);
    const QueryOutcome query = RunQuery(client.get(), "SELECT " + std::to_string(i));
    ASSERT_TRUE(query.ok()) << "query " << i << " after SHUTDOWN SMART: " << query.Describe();
  }
  ExecOk(client.get(), "BEGIN; CREATE TABLE t (x int); COMMIT");
  EXPECT_TRUE(pgvalve.IsRunning());

  client.reset();
  const std::optional<int> status = pgvalve.process().WaitForExit(kHangGuard);
  ASSERT_TRUE(status) << "pgvalve still running after its last client left:\n"
                      << pgvalve.process().LogTail();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << DescribeWaitStatus(*status) << "\n" << pgvalve.process().LogTail();
  EXPECT_EQ(pgvalve.process().SanitizerReport(), "");
}

TEST_F(LifecycleTest, ShutdownFastEndsEverySessionWith57P01) {
  const std::string db = FreshDatabase();
  AdminPgvalve& pgvalve = StartOwn();
  PgConn idle = Client(pgvalve, db);
  PgConn busy = Client(pgvalve, db);
  PgConn direct = ConnectDirect("postgres");
  const int32_t idle_pid = BackendPid(idle.get());
  const int32_t busy_pid = BackendPid(busy.get());
  Background<QueryOutcome> sleeping = QueryInBackground(busy.get(), "SELECT pg_sleep(600)");
  ASSERT_TRUE(WaitForBackendActive(direct.get(), busy_pid));
  {
    PgConn admin = Admin(pgvalve);
    ExecOk(admin.get(), "SHUTDOWN FAST");
  }

  ASSERT_TRUE(sleeping.WaitFor(kHangGuard)) << "running query not ended by SHUTDOWN FAST";
  EXPECT_EQ(sleeping.Result().sqlstate, "57P01") << sleeping.Result().Describe();
  const QueryOutcome next = RunQuery(idle.get(), "SELECT 1");
  EXPECT_EQ(next.sqlstate, "57P01") << next.Describe();

  const std::optional<int> status = pgvalve.process().WaitForExit(kHangGuard);
  ASSERT_TRUE(status) << "pgvalve still running after SHUTDOWN FAST:\n"
                      << pgvalve.process().LogTail();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << DescribeWaitStatus(*status) << "\n" << pgvalve.process().LogTail();
  EXPECT_EQ(pgvalve.process().SanitizerReport(), "");
  // The idle session's backend was told to go.
  EXPECT_TRUE(WaitUntil([&] { return !BackendListed(direct.get(), idle_pid); }));
}

// The session that holds a smart shutdown open can be seen and ended from
// the admin console, which stays open until pgvalve exits.
TEST_F(LifecycleTest, SmartShutdownKeepsTheAdminConsoleOpen) {
  const std::string db = FreshDatabase();
  AdminPgvalve& pgvalve = StartOwn();
  PgConn client = Client(pgvalve, db);
  ExecOk(client.get(), "BEGIN; SELECT 1");

  pgvalve.process().Signal(SIGTERM);
  ASSERT_TRUE(WaitUntil([&] { return !CanConnectTcp(pgvalve.listen_port()); }))
      << "pgvalve still accepts clients after SIGTERM";
  ConnectOutcome admin = TryConnect(pgvalve.AdminConnString() + " connect_timeout=10");
  ASSERT_TRUE(admin.ok()) << "admin console refused during a smart shutdown: " << admin.error
                          << "\n" << pgvalve.process().LogTail();
  const std::string id = ClientId(admin.conn.get(), client.get());
  EXPECT_EQ(ClientState(admin.conn.get(), id), "idle in transaction");
  EXPECT_TRUE(pgvalve.IsRunning());

  ExecOk(admin.conn.get(), "KILL " + id);
  const std::optional<int> status = pgvalve.process().WaitForExit(kHangGuard);
  ASSERT_TRUE(status) << "pgvalve still running after its last client was killed:\n"
                      << pgvalve.process().LogTail();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << DescribeWaitStatus(*status) << "\n" << pgvalve.process().LogTail();
}

// A client idle in a transaction would hold a smart shutdown open forever;
// shutdown_timeout ends it, and its backend with it.
TEST_F(LifecycleTest, SmartShutdownEndsRemainingSessionsAfterShutdownTimeout) {
  const std::string db = FreshDatabase();
  AdminPgvalve& pgvalve = StartOwn({.proxy_toml = "shutdown_timeout = \"1s\"\n"
                                                  "terminate_wait = \"1s\"\n"});
  PgConn client = Client(pgvalve, db);
  PgConn direct = ConnectDirect("postgres");
  const int32_t backend_pid = BackendPid(client.get());
  ExecOk(client.get(), "BEGIN; CREATE TABLE held_open (x int)");

  pgvalve.process().Signal(SIGTERM);
  const std::optional<int> status = pgvalve.process().WaitForExit(kHangGuard);
  ASSERT_TRUE(status) << "pgvalve still running after shutdown_timeout:\n"
                      << pgvalve.process().LogTail();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << DescribeWaitStatus(*status) << "\n" << pgvalve.process().LogTail();
  EXPECT_NE(pgvalve.process().Log().find("shutdown_timeout (1000 ms) has passed"), std::string::npos)
      << pgvalve.process().LogTail();

  // The client was told (57P01) or at least found its connection closed.
  const QueryOutcome next = RunQuery(client.get(), "SELECT 1");
  EXPECT_FALSE(next.ok());
  if (!next.sqlstate.empty()) {
    EXPECT_EQ(next.sqlstate, "57P01") << next.Describe();
  }
  // Its backend is gone, and its transaction was rolled back.
  EXPECT_TRUE(WaitUntil([&] { return !BackendListed(direct.get(), backend_pid); }));
  PgConn check = ConnectDirect(db);
  EXPECT_EQ(ScalarString(check.get(), "SELECT to_regclass('held_open') IS NULL"), "t");
}

}  // namespace
}  // namespace pgvalve::test
