// SWITCH against a real primary and its streaming standby: blue (the
// shared PostgreSQL) and green (a standby of blue, made once per binary
// after database app exists on blue, so green has it too). The shared
// pgvalve routes app, and only app, to blue. What is checked: the refusals
// without FORCE, the switch moving new sessions while existing ones stay
// where they are, a promoted standby taken without FORCE, the switch kept
// across a restart, and a session held by PAUSE landing where the switch
// points once resumed (what CUTOVER relies on), and not counted among the
// sessions that stay. Each test leaves app resumed and on its configured
// route.

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "tests/e2e/admin_test_support.h"
#include "tests/support/free_port.h"

namespace pgvalve::test {
namespace {

constexpr std::string_view kApp = "app";

// Created on first use by SharedPgvalveOptions; stopped after the suite.
std::unique_ptr<PgServer>& GreenSlot() {
  static std::unique_ptr<PgServer> green;
  return green;
}

PgServer& Green(const PgServer& blue) {
  std::unique_ptr<PgServer>& green = GreenSlot();
  if (!green) {
    // Before the base backup, so that green has app too.
    blue.CreateDatabase(kApp);
    green = std::make_unique<PgServer>(PgServer::StandbyOf{blue});
  }
  return *green;
}

// upstreams blue and green (both with control_user postgres), app routed
// to blue, no "*" route; `extra_toml` appended.
AdminPgvalveOptions SwitchOptions(const PgServer& green, const std::string& extra_toml = "") {
  AdminPgvalveOptions options;
  options.route_every_database = false;
  options.extra_toml = UpstreamToml("green", green) + RouteToml(kApp, "blue") + extra_toml;
  return options;
}

// An upstream nobody listens on.
std::string UnreachableUpstreamToml(std::string_view name) {
  return "\n[upstreams." + std::string(name) + "]\nhost = \"127.0.0.1\"\nport = " +
         std::to_string(FreeTcpPort()) + "\ncontrol_user = \"postgres\"\n";
}

}  // namespace

AdminPgvalveOptions SharedPgvalveOptions(const PgServer& blue) {
  // nocontrol: green again, but pgvalve cannot ask it whether it is in
  // recovery; gone: nothing there.
  return SwitchOptions(Green(blue), UpstreamToml("nocontrol", Green(blue), /*control_user=*/"") +
                                        UnreachableUpstreamToml("gone"));
}

namespace {

class SwitchTest : public AdminConsoleTest {
 public:
  static void TearDownTestSuite() { GreenSlot().reset(); }

 protected:
  void SetUp() override {
    AdminConsoleTest::SetUp();
    if (HasFatalFailure()) return;
    try {
      pgvalve();  // makes green first
    } catch (const std::exception& error) {
      GTEST_FAIL() << error.what();
    }
  }

  void TearDown() override {
    // Whatever the test left, the next one starts from app resumed and on
    // its configured route.
    try {
      if (GreenSlot() && pgvalve().IsRunning()) {
        PgConn admin = ConnectAdmin();
        RunQuery(admin.get(), "RESUME app");
        const QueryOutcome reset = RunQuery(admin.get(), "SWITCH app TO DEFAULT");
        EXPECT_TRUE(reset.ok()) << reset.Describe();
      }
    } catch (const std::exception& error) {
      ADD_FAILURE() << error.what();
    }
    AdminConsoleTest::TearDown();
  }

  static PgServer& blue() { return pg(); }
  static PgServer& green() { return *GreenSlot(); }

  // The port of the PostgreSQL that `conn`'s session runs on, asked
  // through the session.
  static int ServerPort(PGconn* conn) {
    return std::stoi(ScalarString(conn, "SELECT inet_server_port()"));
  }

  static std::string AppColumn(PGconn* admin, std::string_view column) {
    return DatabaseColumn(admin, kApp, column);
  }

  // SHOW CLIENTS' upstream for the session with id `client_id`.
  static std::string ClientUpstream(PGconn* admin, std::string_view client_id) {
    const ResultTable clients = ShowClients(admin);
    const std::optional<size_t> row = clients.FindRow("id", client_id);
    return row ? clients.Text(*row, "upstream") : "<no such client>";
  }

  // SHOW UPSTREAMS' session count of `upstream`.
  static int64_t UpstreamSessions(PGconn* admin, std::string_view upstream) {
    const ResultTable upstreams = QueryTable(admin, "SHOW UPSTREAMS");
    const std::optional<size_t> row = upstreams.FindRow("name", upstream);
    return row ? std::stoll(upstreams.Text(*row, "sessions")) : -1;
  }

  // Waits until pgvalve counts exactly `count` sessions of app: those of
  // earlier tests may still be closing.
  static bool WaitForAppSessions(PGconn* admin, int count) {
    return WaitUntil([&] { return AppColumn(admin, "sessions") == std::to_string(count); });
  }

  // Waits until SHOW CLIENTS shows a session of app held by PAUSE and
  // returns its id; "" when none shows up.
  static std::string WaitForHeldSession(PGconn* admin) {
    std::string id;
    WaitUntil([&] {
      const ResultTable clients = ShowClients(admin);
      for (size_t row = 0; row < clients.size(); ++row) {
        if (clients.Text(row, "database") == kApp && clients.Text(row, "state") == "held") {
          id = clients.Text(row, "id");
          return true;
        }
      }
      return false;
    });
    return id;
  }

  static std::string NoticesText(const NoticeLog& notices) {
    std::string text;
    for (const NoticeLog::Notice& notice : notices.notices()) {
      text += notice.severity + " " + notice.sqlstate + ": " + notice.message + "\n";
    }
    return text.empty() ? "(none)" : text;
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
};

TEST_F(SwitchTest, WithoutForceAStandbyIsRefusedAndNothingMoves) {
  ASSERT_TRUE(green().IsInRecovery());
  PgConn admin = ConnectAdmin();

  const QueryOutcome refused = RunQuery(admin.get(), "SWITCH app TO green");
  EXPECT_EQ(refused.sqlstate, "55000") << refused.Describe();
  EXPECT_NE(refused.message.find("recovery"), std::string::npos) << refused.Describe();
  EXPECT_NE(refused.detail.find("FORCE"), std::string::npos) << refused.Describe();

  EXPECT_EQ(AppColumn(admin.get(), "upstream"), "blue");
  EXPECT_EQ(AppColumn(admin.get(), "port"), std::to_string(blue().port()));
  EXPECT_EQ(AppColumn(admin.get(), "switched_at"), "<NULL>");
  PgConn client = ConnectClient(kApp);
  EXPECT_EQ(ServerPort(client.get()), blue().port());
}

TEST_F(SwitchTest, WithoutForceAnUpstreamItCannotAskIsRefused) {
  PgConn admin = ConnectAdmin();

  const QueryOutcome no_control = RunQuery(admin.get(), "SWITCH app TO nocontrol");
  EXPECT_EQ(no_control.sqlstate, "55000") << no_control.Describe();
  EXPECT_NE(no_control.message.find("control_user"), std::string::npos) << no_control.Describe();
  EXPECT_NE(no_control.detail.find("FORCE"), std::string::npos) << no_control.Describe();

  const QueryOutcome gone = RunQuery(admin.get(), "SWITCH app TO gone");
  EXPECT_TRUE(gone.sqlstate == "08001" || gone.sqlstate == "08006") << gone.Describe();
  EXPECT_NE(gone.detail.find("FORCE"), std::string::npos) << gone.Describe();

  EXPECT_EQ(AppColumn(admin.get(), "upstream"), "blue");
  EXPECT_EQ(AppColumn(admin.get(), "switched_at"), "<NULL>");
}

TEST_F(SwitchTest, UnknownNamesAndTheMonitorRoleAreRefused) {
  PgConn admin = ConnectAdmin();

  const QueryOutcome no_upstream = RunQuery(admin.get(), "SWITCH app TO nosuch FORCE");
  EXPECT_EQ(no_upstream.sqlstate, "42704") << no_upstream.Describe();
  EXPECT_NE(no_upstream.message.find("nosuch"), std::string::npos) << no_upstream.Describe();

  const QueryOutcome no_database = RunQuery(admin.get(), "SWITCH nosuchdb TO green FORCE");
  EXPECT_EQ(no_database.sqlstate, "3D000") << no_database.Describe();
  const QueryOutcome every_database = RunQuery(admin.get(), R"(SWITCH "*" TO green FORCE)");
  EXPECT_EQ(every_database.sqlstate, "3D000") << every_database.Describe();

  PgConn monitor = ConnectAdmin(kMonitorUser, kMonitorPassword);
  const QueryOutcome not_allowed = RunQuery(monitor.get(), "SWITCH app TO green FORCE");
  EXPECT_EQ(not_allowed.sqlstate, "42501") << not_allowed.Describe();

  EXPECT_EQ(AppColumn(admin.get(), "upstream"), "blue");
  EXPECT_EQ(AppColumn(admin.get(), "switched_at"), "<NULL>");
  EXPECT_FALSE(QueryTable(admin.get(), "SHOW DATABASES").FindRow("name", "nosuchdb").has_value());
}

TEST_F(SwitchTest, ForceMovesNewSessionsAndExistingOnesStay) {
  PgConn admin = ConnectAdmin();
  PgConn before = ConnectClient(kApp);
  ASSERT_EQ(ServerPort(before.get()), blue().port());
  const std::string before_id = ClientId(admin.get(), before.get());
  ASSERT_TRUE(WaitForAppSessions(admin.get(), 1))
      << QueryTable(admin.get(), "SHOW CLIENTS").ToString();

  NoticeLog notices(admin.get());
  PgResult switched = ExecOk(admin.get(), "SWITCH app TO green FORCE");
  EXPECT_STREQ(PQcmdStatus(switched.get()), "SWITCH");
  bool told = false;
  for (const NoticeLog::Notice& notice : notices.notices()) {
    told = told || (notice.severity == "NOTICE" &&
                    notice.message == "1 session(s) of app stay on the upstream they are on");
  }
  EXPECT_TRUE(told) << NoticesText(notices);

  const ResultTable databases = QueryTable(admin.get(), "SHOW DATABASES");
  const std::optional<size_t> row = databases.FindRow("name", kApp);
  ASSERT_TRUE(row) << databases.ToString();
  EXPECT_EQ(databases.Text(*row, "upstream"), "green");
  EXPECT_EQ(databases.Text(*row, "host"), green().host());
  EXPECT_EQ(databases.Text(*row, "port"), std::to_string(green().port()));
  EXPECT_EQ(databases.Text(*row, "configured_upstream"), "blue");
  EXPECT_NE(databases.Text(*row, "switched_at"), "<NULL>") << databases.ToString();
  EXPECT_NE(databases.Text(*row, "switched_by").find(kAdminUser), std::string::npos)
      << databases.ToString();

  PgConn after = ConnectClient(kApp);
  EXPECT_EQ(ServerPort(after.get()), green().port());
  EXPECT_EQ(ScalarString(after.get(), "SELECT pg_is_in_recovery()"), "t");
  EXPECT_EQ(ServerPort(before.get()), blue().port());
  EXPECT_EQ(ScalarString(before.get(), "SELECT pg_is_in_recovery()"), "f");
  EXPECT_EQ(ClientUpstream(admin.get(), before_id), "blue");
  EXPECT_EQ(ClientUpstream(admin.get(), ClientId(admin.get(), after.get())), "green");

  ExecOk(admin.get(), "SWITCH app TO DEFAULT");
  PgConn back = ConnectClient(kApp);
  EXPECT_EQ(ServerPort(back.get()), blue().port());
  EXPECT_EQ(ServerPort(after.get()), green().port()) << "a switch back moves no session either";
  EXPECT_EQ(AppColumn(admin.get(), "upstream"), "blue");
  EXPECT_EQ(AppColumn(admin.get(), "configured_upstream"), "blue");
  EXPECT_EQ(AppColumn(admin.get(), "switched_at"), "<NULL>");
  EXPECT_EQ(AppColumn(admin.get(), "switched_by"), "<NULL>");
}

// Needs a standby that becomes writable: one of its own, so that green
// stays a standby for the other tests.
TEST_F(SwitchTest, APromotedStandbyIsTakenWithoutForceAndTakesWrites) {
  blue().RunSql("CREATE TABLE IF NOT EXISTS switch_writes (server_port int)", kApp);
  PgServer orange{PgServer::StandbyOf{blue()}};
  AdminPgvalve own(blue(), SwitchOptions(green(), UpstreamToml("orange", orange)));
  PgConn admin = Connect(own.AdminConnString());

  const QueryOutcome standby = RunQuery(admin.get(), "SWITCH app TO orange");
  EXPECT_EQ(standby.sqlstate, "55000") << standby.Describe();

  ASSERT_EQ(orange.QueryScalar("SELECT pg_promote()"), "t") << orange.LogTail();
  ASSERT_FALSE(orange.IsInRecovery());
  const QueryOutcome promoted = RunQuery(admin.get(), "SWITCH app TO orange");
  ASSERT_TRUE(promoted.ok()) << promoted.Describe();
  EXPECT_EQ(DatabaseColumn(admin.get(), kApp, "upstream"), "orange");

  PgConn client = Connect(own.ClientConnString(kApp));
  EXPECT_EQ(ServerPort(client.get()), orange.port());
  ExecOk(client.get(), "INSERT INTO switch_writes VALUES (inet_server_port())");
  EXPECT_EQ(orange.QueryScalar("SELECT count(*) FROM switch_writes WHERE server_port = " +
                                   std::to_string(orange.port()),
                               kApp),
            "1");
  EXPECT_EQ(blue().QueryScalar("SELECT count(*) FROM switch_writes", kApp), "0");

  client.reset();
  admin.reset();
  EXPECT_EQ(own.StopAndCheck(), "");
}

// On a pgvalve of its own, restarted with the same config and state file.
TEST_F(SwitchTest, TheSwitchIsKeptAcrossARestart) {
  AdminPgvalve own(blue(), SwitchOptions(green()));
  std::string switched_at;
  std::string switched_by;
  {
    PgConn admin = Connect(own.AdminConnString());
    ExecOk(admin.get(), "SWITCH app TO green FORCE");
    switched_at = DatabaseColumn(admin.get(), kApp, "switched_at");
    switched_by = DatabaseColumn(admin.get(), kApp, "switched_by");
  }
  ASSERT_NE(switched_at, "<NULL>");
  EXPECT_NE(ReadFile(own.state_path()).find("switched_to = \"green\""), std::string::npos)
      << ReadFile(own.state_path());

  ASSERT_EQ(own.StopAndCheck(), "");
  own.Start();

  PgConn admin = Connect(own.AdminConnString());
  const ResultTable databases = QueryTable(admin.get(), "SHOW DATABASES");
  const std::optional<size_t> row = databases.FindRow("name", kApp);
  ASSERT_TRUE(row) << databases.ToString();
  EXPECT_EQ(databases.Text(*row, "upstream"), "green") << databases.ToString();
  EXPECT_EQ(databases.Text(*row, "configured_upstream"), "blue");
  EXPECT_EQ(databases.Text(*row, "switched_by"), switched_by);
  // The state file keeps whole seconds: "YYYY-MM-DD HH:MM:SS" is kept.
  EXPECT_EQ(databases.Text(*row, "switched_at").substr(0, 19), switched_at.substr(0, 19))
      << databases.ToString();
  {
    PgConn client = Connect(own.ClientConnString(kApp));
    EXPECT_EQ(ServerPort(client.get()), green().port());
  }

  // Back to the configured route, which the state file forgets.
  ExecOk(admin.get(), "SWITCH app TO DEFAULT");
  EXPECT_EQ(ReadFile(own.state_path()).find("switched_to"), std::string::npos)
      << ReadFile(own.state_path());
  admin.reset();
  EXPECT_EQ(own.StopAndCheck(), "");
}

TEST_F(SwitchTest, ASessionHeldByPauseGoesWhereTheSwitchPointsWhenResumed) {
  PgConn admin = ConnectAdmin();
  ExecOk(admin.get(), "PAUSE app");
  Background<ConnectOutcome> held = ConnectInBackground(pgvalve().ClientConnString(kApp));
  const std::string held_id = WaitForHeldSession(admin.get());
  ASSERT_FALSE(held_id.empty()) << ShowClients(admin.get()).ToString();
  EXPECT_FALSE(held.done());

  EXPECT_EQ(ClientUpstream(admin.get(), held_id), "blue");
  const int64_t on_blue = UpstreamSessions(admin.get(), "blue");
  const int64_t on_green = UpstreamSessions(admin.get(), "green");
  ExecOk(admin.get(), "SWITCH app TO green FORCE");
  // Not connected anywhere yet: SHOW CLIENTS and SHOW UPSTREAMS say where
  // it will go.
  EXPECT_EQ(ClientUpstream(admin.get(), held_id), "green");
  EXPECT_EQ(UpstreamSessions(admin.get(), "blue"), on_blue - 1);
  EXPECT_EQ(UpstreamSessions(admin.get(), "green"), on_green + 1);
  ExecOk(admin.get(), "RESUME app");

  ASSERT_TRUE(held.WaitFor(kHangGuard));
  ASSERT_TRUE(held.Result().ok()) << held.Result().error;
  EXPECT_EQ(ServerPort(held.Result().conn.get()), green().port());
  EXPECT_EQ(ClientUpstream(admin.get(), held_id), "green");
}

// A held session has no upstream yet and goes where the switch points:
// telling the operator it stays on the upstream it is on would send them
// to DRAIN or TERMINATE a session that needs neither.
TEST_F(SwitchTest, HeldSessionsAreNotCountedAsStaying) {
  PgConn admin = ConnectAdmin();
  ASSERT_TRUE(WaitForAppSessions(admin.get(), 0))
      << QueryTable(admin.get(), "SHOW CLIENTS").ToString();
  ExecOk(admin.get(), "PAUSE app");
  Background<ConnectOutcome> held = ConnectInBackground(pgvalve().ClientConnString(kApp));
  ASSERT_FALSE(WaitForHeldSession(admin.get()).empty()) << ShowClients(admin.get()).ToString();
  ASSERT_EQ(AppColumn(admin.get(), "sessions"), "1")
      << QueryTable(admin.get(), "SHOW CLIENTS").ToString();

  NoticeLog notices(admin.get());
  ExecOk(admin.get(), "SWITCH app TO green FORCE");
  for (const NoticeLog::Notice& notice : notices.notices()) {
    EXPECT_EQ(notice.message.find("stay on the upstream"), std::string::npos)
        << "SWITCH while app's only session was held said: " << notice.message;
  }

  ExecOk(admin.get(), "RESUME app");
  ASSERT_TRUE(held.WaitFor(kHangGuard));
  EXPECT_TRUE(held.Result().ok()) << held.Result().error;
}

}  // namespace
// PgBouncer #1311: after a switchover, clients kept writing to the old,
// now read-only primary for days. Once app is switched away from blue, a
// 25006 from blue closes the session at its boundary. The session makes
// its own transactions read-only, which is what blue says once demoted.
TEST_F(SwitchTest, AReadOnlyRefusalFromTheOldUpstreamClosesTheSession) {
  PgConn admin = ConnectAdmin();
  PgConn before = ConnectClient(kApp);
  ASSERT_EQ(ServerPort(before.get()), blue().port());
  ExecOk(before.get(), "SET default_transaction_read_only = on");
  // Before any switch a read-only refusal is the application's business.
  QueryOutcome refused = RunQuery(before.get(), "CREATE TABLE stale_primary_probe (x int)");
  ASSERT_EQ(refused.sqlstate, "25006") << refused.Describe();
  ASSERT_EQ(ServerPort(before.get()), blue().port()) << "the session must go on before a switch";

  const std::string before_id = ClientId(admin.get(), before.get());
  ExecOk(admin.get(), "SWITCH app TO green FORCE");
  refused = RunQuery(before.get(), "CREATE TABLE stale_primary_probe (x int)");
  EXPECT_EQ(refused.sqlstate, "25006") << refused.Describe();
  // Closed at the boundary that follows the refusal: the session leaves
  // the registry, and the FATAL says why. Whether libpq shows the FATAL's
  // text or only the closed connection on the next statement depends on
  // when it reads it.
  EXPECT_TRUE(WaitUntil([&] { return ClientUpstream(admin.get(), before_id) == "<no such client>"; }))
      << QueryTable(admin.get(), "SHOW CLIENTS").ToString();
  const QueryOutcome closed = RunQuery(before.get(), "SELECT 1");
  EXPECT_FALSE(closed.ok()) << closed.Describe();
  EXPECT_EQ(PQstatus(before.get()), CONNECTION_BAD) << closed.Describe();
  if (!closed.sqlstate.empty()) {
    EXPECT_EQ(closed.sqlstate, "57P01") << closed.Describe();
    EXPECT_NE(closed.message.find("read-only"), std::string::npos) << closed.Describe();
  }
  const std::string log = pgvalve().process().Log();
  EXPECT_NE(log.find("session " + before_id + ": upstream \"blue\" refused a write as read-only"),
            std::string::npos)
      << log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
}

}  // namespace pgvalve::test
