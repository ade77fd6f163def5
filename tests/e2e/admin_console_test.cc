// The admin console as a PostgreSQL session: login, roles, the protocols it
// speaks, what the SHOW commands report about live sessions, the command
// language, and the audit log.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <set>
#include <string>
#include <vector>

#include "tests/e2e/admin_test_support.h"

namespace pgvalve::test {
namespace {

constexpr std::string_view kControlPassword = "violet-control-secret";

}  // namespace

AdminPgvalveOptions SharedPgvalveOptions(const PgServer& pg) {
  AdminPgvalveOptions options;
  // An upstream with a control password, to see that SHOW CONFIG hides it.
  options.extra_toml = UpstreamToml("violet", pg) + "control_password = \"" +
                       std::string(kControlPassword) + "\"\n" + RouteToml("violet_db", "violet");
  return options;
}

namespace {

class ConsoleTest : public AdminConsoleTest {
 protected:
  // The client side of a connection's socket: what pgvalve sees as the
  // peer's address and port.
  static uint16_t LocalPort(PGconn* conn) {
    sockaddr_in address{};
    socklen_t length = sizeof(address);
    if (::getsockname(PQsocket(conn), reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
    return ntohs(address.sin_port);
  }
};

// --- login --------------------------------------------------------------

TEST_F(ConsoleTest, WrongPasswordAndUnknownUserAreRefusedAlike) {
  const ConnectOutcome wrong_password =
      TryConnect(pgvalve().AdminConnString(kAdminUser, "not-the-password"));
  EXPECT_FALSE(wrong_password.ok());
  EXPECT_EQ(wrong_password.sqlstate, "28P01") << wrong_password.error;
  EXPECT_NE(wrong_password.error.find("password authentication failed for user \"admin\""),
            std::string::npos)
      << wrong_password.error;

  const ConnectOutcome unknown_user = TryConnect(pgvalve().AdminConnString("mallory", "guess"));
  EXPECT_FALSE(unknown_user.ok());
  EXPECT_EQ(unknown_user.sqlstate, "28P01") << unknown_user.error;
  EXPECT_NE(unknown_user.error.find("password authentication failed for user \"mallory\""),
            std::string::npos)
      << unknown_user.error;

  // Telling the two apart from the reply must not be possible.
  std::string wrong_text = wrong_password.error;
  std::string unknown_text = unknown_user.error;
  wrong_text.replace(wrong_text.find("\"admin\""), 7, "\"USER\"");
  unknown_text.replace(unknown_text.find("\"mallory\""), 9, "\"USER\"");
  EXPECT_EQ(wrong_text, unknown_text);

  // A monitor's password is not an admin's.
  EXPECT_EQ(TryConnect(pgvalve().AdminConnString(kAdminUser, kMonitorPassword)).sqlstate, "28P01");
}

TEST_F(ConsoleTest, OnlyTheDatabasePgvalveIsServed) {
  const ConnectOutcome wrong_db =
      TryConnect(pgvalve().AdminConnString(kAdminUser, kAdminPassword, "postgres"));
  EXPECT_FALSE(wrong_db.ok());
  EXPECT_EQ(wrong_db.sqlstate, "3D000") << wrong_db.error;
  EXPECT_NE(wrong_db.error.find("database \"postgres\" does not exist"), std::string::npos)
      << wrong_db.error;
}

TEST_F(ConsoleTest, MonitorMayLookButNotTouch) {
  const std::string db = FreshDatabase();
  PgConn client = ConnectClient(db);
  const std::string client_id = [&] {
    PgConn admin = ConnectAdmin();
    return ClientId(admin.get(), client.get());
  }();
  PgConn monitor = ConnectAdmin(kMonitorUser, kMonitorPassword);

  const QueryOutcome disable = RunQuery(monitor.get(), "DISABLE " + db);
  EXPECT_EQ(disable.sqlstate, "42501") << disable.Describe();
  EXPECT_NE(disable.message.find("permission denied"), std::string::npos) << disable.Describe();
  for (const std::string& command :
       {"ENABLE " + db, "PAUSE " + db, "RESUME " + db, "CANCEL " + client_id,
        "TERMINATE " + client_id, "KILL " + client_id, "KILL_CLIENT " + client_id, std::string("RELOAD")}) {
    const QueryOutcome refused = RunQuery(monitor.get(), command);
    EXPECT_EQ(refused.sqlstate, "42501") << command << ": " << refused.Describe();
  }

  const ResultTable clients = ShowClients(monitor.get());
  EXPECT_TRUE(clients.FindRow("id", client_id)) << clients.ToString();
  EXPECT_TRUE(QueryTable(monitor.get(), "SHOW DATABASES").FindRow("name", db));
  // Nothing the monitor tried took effect.
  EXPECT_EQ(DatabaseColumn(monitor.get(), db, "state"), "enabled");
  EXPECT_EQ(ScalarString(client.get(), "SELECT 'alive'"), "alive");
  EXPECT_TRUE(TryConnect(pgvalve().ClientConnString(db)).ok());
}

// --- protocol -----------------------------------------------------------

TEST_F(ConsoleTest, ExtendedProtocolIsRefusedWith0A000AndTheSessionGoesOn) {
  PgConn admin = ConnectAdmin();
  const QueryOutcome extended = RunQueryParams(admin.get(), "SHOW VERSION", {});
  EXPECT_EQ(extended.sqlstate, "0A000") << extended.Describe();
  EXPECT_EQ(PQstatus(admin.get()), CONNECTION_OK);
  EXPECT_EQ(PQtransactionStatus(admin.get()), PQTRANS_IDLE);

  const QueryOutcome simple = RunQuery(admin.get(), "SHOW VERSION");
  ASSERT_TRUE(simple.ok()) << simple.Describe();
  EXPECT_EQ(simple.table.Text(0, "version").rfind("pgvalve ", 0), 0u) << simple.table.ToString();

  PgResult prepared(PQprepare(admin.get(), "s", "SHOW VERSION", 0, nullptr));
  EXPECT_EQ(SqlState(prepared.get()), "0A000");
  EXPECT_EQ(ScalarString(admin.get(), "SHOW VERSION"), simple.table.Text(0, "version"));
}

TEST_F(ConsoleTest, SyntaxErrorsAre42601AndTheSessionGoesOn) {
  PgConn admin = ConnectAdmin();
  for (const char* command :
       {"SHOW NONSENSE", "FROBNICATE everything", "DISABLE", "DISABLE db REASON unquoted",
        "PAUSE db TIMEOUT", "CANCEL BACKEND", "CANCEL DATABASE", "SHOW VERSION extra",
        "DISABLE 'unterminated"}) {
    const QueryOutcome error = RunQuery(admin.get(), command);
    EXPECT_EQ(error.sqlstate, "42601") << command << ": " << error.Describe();
    EXPECT_EQ(PQstatus(admin.get()), CONNECTION_OK) << command;
  }
  EXPECT_EQ(ScalarString(admin.get(), "SHOW VERSION").rfind("pgvalve ", 0), 0u);
}

// What an operator types may end up in the state file (a REASON), which
// must load again after a restart: text that is not UTF-8 is refused as
// PostgreSQL refuses it, before anything runs.
TEST_F(ConsoleTest, InvalidUtf8IsRefusedWith22021AndChangesNothing) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  const QueryOutcome refused =
      RunQuery(admin.get(), "DISABLE " + db + " FORCE REASON 'caf\xe9 closed'");
  EXPECT_EQ(refused.sqlstate, "22021") << refused.Describe();
  EXPECT_EQ(refused.message, "invalid byte sequence for encoding \"UTF8\": 0xe9 0x20 0x63")
      << refused.Describe();
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "state"), "<none>");
  // Valid multi-byte text is kept as it is.
  const QueryOutcome accepted = RunQuery(admin.get(), "DISABLE " + db + " FORCE REASON 'caf\xc3\xa9 closed'");
  EXPECT_TRUE(accepted.ok()) << accepted.Describe();
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "disable_reason"), "caf\xc3\xa9 closed");
  ExecOk(admin.get(), "ENABLE " + db);
}

TEST_F(ConsoleTest, SeveralCommandsInOneQueryRunInOrderAndStopAtAnError) {
  PgConn admin = ConnectAdmin();
  const std::vector<PgResult> results = ExecAll(admin.get(), "SHOW VERSION; SHOW HELP");
  ASSERT_EQ(results.size(), 2u);
  ASSERT_EQ(PQresultStatus(results[0].get()), PGRES_TUPLES_OK);
  ASSERT_EQ(PQresultStatus(results[1].get()), PGRES_TUPLES_OK);
  EXPECT_TRUE(ResultTable(results[0].get()).HasColumn("version"));
  EXPECT_TRUE(ResultTable(results[1].get()).HasColumn("command"));

  const std::string db = FreshDatabase();
  const std::vector<PgResult> stopped =
      ExecAll(admin.get(), "SHOW VERSION; BOGUS; DISABLE " + db);
  ASSERT_EQ(stopped.size(), 2u);
  EXPECT_EQ(PQresultStatus(stopped[0].get()), PGRES_TUPLES_OK);
  EXPECT_EQ(SqlState(stopped[1].get()), "42601");
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "state"), "<none>") << "DISABLE after the error ran";
  EXPECT_TRUE(TryConnect(pgvalve().ClientConnString(db)).ok());

  // A trailing ';' and empty statements change nothing.
  const std::vector<PgResult> trailing = ExecAll(admin.get(), "SHOW VERSION;;");
  ASSERT_EQ(trailing.size(), 1u);
  EXPECT_EQ(PQresultStatus(trailing[0].get()), PGRES_TUPLES_OK);
}

TEST_F(ConsoleTest, VerbsAreCaseInsensitiveAndQuotedNamesKeepTheirCase) {
  PgConn admin = ConnectAdmin();
  EXPECT_EQ(ScalarString(admin.get(), "show version"), ScalarString(admin.get(), "SHOW VERSION"));
  EXPECT_TRUE(QueryTable(admin.get(), "Show Clients").HasColumn("virtual_pid"));

  pg().CreateDatabase("MixedCase");
  PgConn mixed = ConnectClient("MixedCase");
  const std::string mixed_id = ClientId(admin.get(), mixed.get());

  // Unquoted, the name folds to lower case, as in SQL: another database,
  // which pgvalve does not know; the error points at the one it does.
  const QueryOutcome folded = RunQuery(admin.get(), "disable MixedCase");
  EXPECT_EQ(folded.sqlstate, "3D000") << folded.Describe();
  EXPECT_NE(folded.detail.find("Did you mean \"MixedCase\"?"), std::string::npos) << folded.Describe();
  ExecOk(admin.get(), "disable MixedCase force");
  EXPECT_TRUE(TryConnect(pgvalve().ClientConnString("MixedCase")).ok());
  EXPECT_EQ(TryConnect(pgvalve().ClientConnString("mixedcase")).sqlstate, "55000");
  ExecOk(admin.get(), "enable MixedCase");

  ExecOk(admin.get(), "Disable \"MixedCase\" reason 'quoted'");
  const ConnectOutcome refused = TryConnect(pgvalve().ClientConnString("MixedCase"));
  EXPECT_EQ(refused.sqlstate, "55000") << refused.error;
  EXPECT_NE(refused.error.find("database \"MixedCase\""), std::string::npos) << refused.error;
  EXPECT_EQ(DatabaseColumn(admin.get(), "MixedCase", "state"), "disabled");
  ExecOk(admin.get(), "ENABLE \"MixedCase\"");
  EXPECT_TRUE(TryConnect(pgvalve().ClientConnString("MixedCase")).ok());

  const ResultTable backends = QueryTable(admin.get(), "SHOW BACKENDS \"MixedCase\"");
  const auto row = backends.FindRow("pid", std::to_string(BackendPid(mixed.get())));
  ASSERT_TRUE(row) << backends.ToString();
  EXPECT_EQ(backends.Text(*row, "pgvalve_client"), mixed_id);
}

// --- SHOW ---------------------------------------------------------------

TEST_F(ConsoleTest, ShowClientsDescribesEachSession) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn client =
      Connect(pgvalve().ClientConnString(db, kAppUser, "application_name=show_clients_probe"));
  const int32_t backend_pid = BackendPid(client.get());

  const ResultTable clients = ShowClients(admin.get());
  const std::vector<std::string> expected_columns = {
      "id",          "database",    "user",          "application_name", "client_addr",
      "client_port", "state",       "virtual_pid",   "backend_pid",      "upstream",
      "connected_since", "state_since", "xact_start", "query_start", "state_seconds",
      "bytes_in",    "bytes_out",   "tls"};
  EXPECT_EQ(clients.columns(), expected_columns);
  const auto row = clients.FindRow("virtual_pid", std::to_string(PQbackendPID(client.get())));
  ASSERT_TRUE(row) << "PQbackendPID " << PQbackendPID(client.get()) << " not listed:\n"
                   << clients.ToString();
  EXPECT_EQ(clients.Text(*row, "backend_pid"), std::to_string(backend_pid));
  EXPECT_EQ(clients.Text(*row, "database"), db);
  EXPECT_EQ(clients.Text(*row, "user"), "app_user");
  EXPECT_EQ(clients.Text(*row, "application_name"), "show_clients_probe");
  EXPECT_EQ(clients.Text(*row, "client_addr"), "127.0.0.1");
  EXPECT_EQ(clients.Text(*row, "client_port"), std::to_string(LocalPort(client.get())));
  EXPECT_EQ(clients.Text(*row, "upstream"), "blue");
  EXPECT_EQ(clients.Text(*row, "state"), "idle");
  EXPECT_EQ(clients.Get(*row, "tls"), std::nullopt) << "a plain client";
  // Idle: no transaction, no query, as pg_stat_activity shows it.
  EXPECT_EQ(clients.Get(*row, "xact_start"), std::nullopt);
  EXPECT_EQ(clients.Get(*row, "query_start"), std::nullopt);
  EXPECT_GE(std::stod(clients.Text(*row, "state_seconds")), 0.0);
  EXPECT_NE(clients.Text(*row, "bytes_in"), "0");
  EXPECT_NE(clients.Text(*row, "bytes_out"), "0");
  EXPECT_EQ(ShowClients(admin.get()).columns(), QueryTable(admin.get(), "SHOW SESSIONS").columns());
}

TEST_F(ConsoleTest, ShowClientsAndShowDatabasesFollowSessionStates) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn idle = ConnectClient(db);
  PgConn busy = ConnectClient(db);
  PgConn in_transaction = ConnectClient(db);
  PgConn failed = ConnectClient(db);
  const std::string idle_id = ClientId(admin.get(), idle.get());
  const std::string busy_id = ClientId(admin.get(), busy.get());
  const std::string in_transaction_id = ClientId(admin.get(), in_transaction.get());
  const std::string failed_id = ClientId(admin.get(), failed.get());

  ExecOk(in_transaction.get(), "BEGIN");
  ExecOk(failed.get(), "BEGIN");
  EXPECT_FALSE(RunQuery(failed.get(), "SELECT 1/0").ok());
  PgConn direct = ConnectDirect("postgres");
  const int32_t busy_pid = BackendPid(busy.get());
  Background<QueryOutcome> sleeping = QueryInBackground(busy.get(), "SELECT pg_sleep(600)");
  ASSERT_TRUE(WaitForBackendActive(direct.get(), busy_pid));

  EXPECT_EQ(ClientState(admin.get(), idle_id), "idle");
  EXPECT_TRUE(WaitForClientState(admin.get(), busy_id, "active")) << ShowClients(admin.get()).ToString();
  EXPECT_EQ(ClientState(admin.get(), in_transaction_id), "idle in transaction");
  EXPECT_EQ(ClientState(admin.get(), failed_id), "idle in transaction (aborted)");

  const ResultTable databases = QueryTable(admin.get(), "SHOW DATABASES");
  const auto row = databases.FindRow("name", db);
  ASSERT_TRUE(row) << databases.ToString();
  EXPECT_EQ(databases.Text(*row, "sessions"), "4");
  EXPECT_EQ(databases.Text(*row, "active"), "1");
  EXPECT_EQ(databases.Text(*row, "idle"), "1");
  EXPECT_EQ(databases.Text(*row, "idle_in_transaction"), "2");
  EXPECT_EQ(databases.Text(*row, "held"), "0");
  EXPECT_EQ(databases.Text(*row, "state"), "enabled");
  EXPECT_EQ(databases.Text(*row, "upstream"), "blue");
  EXPECT_EQ(databases.Text(*row, "host"), "127.0.0.1");
  EXPECT_EQ(databases.Text(*row, "port"), std::to_string(pg().port()));
  EXPECT_EQ(QueryTable(admin.get(), "SHOW POOLS").columns(), databases.columns());

  ExecOk(admin.get(), "CANCEL " + busy_id);
  ASSERT_TRUE(sleeping.WaitFor(kHangGuard));
  EXPECT_TRUE(WaitForClientState(admin.get(), busy_id, "idle"));
  ExecOk(in_transaction.get(), "COMMIT");
  EXPECT_EQ(ClientState(admin.get(), in_transaction_id), "idle");

  idle.reset();
  EXPECT_TRUE(WaitUntil([&] { return DatabaseColumn(admin.get(), db, "sessions") == "3"; }))
      << QueryTable(admin.get(), "SHOW DATABASES").ToString();
}

TEST_F(ConsoleTest, ShowStatsCountsTransactionsAndQueries) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  {
    PgConn client = ConnectClient(db);
    ExecOk(client.get(), "SELECT 1");
    ExecOk(client.get(), "SELECT 2");
    ExecOk(client.get(), "SELECT 3");
    ExecOk(client.get(), "BEGIN");
    ExecOk(client.get(), "SELECT 4");
    ExecOk(client.get(), "COMMIT");
    // Live sessions count as well as ended ones.
    const ResultTable stats = QueryTable(admin.get(), "SHOW STATS");
    const auto row = stats.FindRow("database", db);
    ASSERT_TRUE(row) << stats.ToString();
    EXPECT_EQ(stats.Text(*row, "transactions"), "4") << stats.ToString();
    EXPECT_EQ(stats.Text(*row, "queries"), "6") << stats.ToString();
  }
  PgConn second = ConnectClient(db);
  ExecOk(second.get(), "SELECT 5");
  ExecOk(second.get(), "BEGIN; SELECT 6; COMMIT");
  const ResultTable stats = QueryTable(admin.get(), "SHOW STATS");
  const auto row = stats.FindRow("database", db);
  ASSERT_TRUE(row) << stats.ToString();
  EXPECT_EQ(stats.Text(*row, "transactions"), "6") << stats.ToString();
  EXPECT_EQ(stats.Text(*row, "queries"), "8") << stats.ToString();
  EXPECT_NE(stats.Text(*row, "bytes_in"), "0");
  EXPECT_NE(stats.Text(*row, "bytes_out"), "0");
}

TEST_F(ConsoleTest, ShowBackendsListsProxiedAndDirectConnections) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn proxied = ConnectClient(db);
  const std::string proxied_id = ClientId(admin.get(), proxied.get());
  PgConn direct = ConnectDirect(db, kAppUser);

  const ResultTable backends = QueryTable(admin.get(), "SHOW BACKENDS " + db);
  const auto proxied_row = backends.FindRow("pid", std::to_string(BackendPid(proxied.get())));
  const auto direct_row = backends.FindRow("pid", std::to_string(BackendPid(direct.get())));
  ASSERT_TRUE(proxied_row && direct_row) << backends.ToString();
  EXPECT_EQ(backends.Get(*proxied_row, "pgvalve_client"), proxied_id);
  EXPECT_EQ(backends.Get(*direct_row, "pgvalve_client"), std::nullopt);
  EXPECT_EQ(backends.Text(*direct_row, "usename"), "app_user");

  const QueryOutcome no_route = RunQuery(admin.get(), "SHOW BACKENDS");
  EXPECT_EQ(no_route.sqlstate, "42601") << no_route.Describe();
}

TEST_F(ConsoleTest, ShowHelpListsEveryCommand) {
  PgConn admin = ConnectAdmin();
  const ResultTable help = QueryTable(admin.get(), "SHOW HELP");
  std::set<std::string> listed;
  for (size_t row = 0; row < help.size(); ++row) listed.insert(help.Text(row, "command"));
  for (const char* verb :
       {"SHOW CLIENTS", "SHOW SESSIONS", "SHOW DATABASES", "SHOW POOLS", "SHOW UPSTREAMS",
        "SHOW STATS", "SHOW CONFIG", "SHOW RULES", "SHOW VERSION", "SHOW HELP", "SHOW BACKENDS",
        "DISABLE",
        "ENABLE", "PAUSE", "RESUME", "CANCEL", "TERMINATE", "KILL", "KILL_CLIENT", "RELOAD",
        "SHUTDOWN"}) {
    EXPECT_TRUE(listed.contains(verb)) << verb << " missing from SHOW HELP:\n" << help.ToString();
  }
  const auto disable = help.FindRow("command", "DISABLE");
  ASSERT_TRUE(disable);
  EXPECT_EQ(help.Text(*disable, "role"), "admin");
  const auto clients = help.FindRow("command", "SHOW CLIENTS");
  ASSERT_TRUE(clients);
  EXPECT_EQ(help.Text(*clients, "role"), "monitor");
}

TEST_F(ConsoleTest, ShowConfigNeverShowsAPassword) {
  PgConn admin = ConnectAdmin();
  const ResultTable config = QueryTable(admin.get(), "SHOW CONFIG");
  const std::string text = config.ToString();
  for (std::string_view secret : {kAdminPassword, kMonitorPassword, kControlPassword}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << "SHOW CONFIG shows \"" << secret << "\":\n"
                                                    << text;
  }
  const auto control_password = config.FindRow("key", "upstreams.violet.control_password");
  ASSERT_TRUE(control_password) << text;
  EXPECT_EQ(config.Text(*control_password, "value"), "(set)");
  const auto admin_user = config.FindRow("key", "admin.users.admin");
  ASSERT_TRUE(admin_user) << text;
  EXPECT_EQ(config.Text(*admin_user, "value"), "admin");
  const auto hold = config.FindRow("key", "proxy.hold_timeout");
  ASSERT_TRUE(hold) << text;
  const auto metrics_auth = config.FindRow("key", "http.metrics_auth");
  ASSERT_TRUE(metrics_auth) << text;
  EXPECT_EQ(config.Text(*metrics_auth, "value"), "true");
  const auto http_tls = config.FindRow("key", "http.tls");
  ASSERT_TRUE(http_tls) << text;
  EXPECT_EQ(config.Text(*http_tls, "value"), "false");
  const auto source = config.FindRow("key", "source");
  ASSERT_TRUE(source) << text;
  EXPECT_EQ(config.Text(*source, "value"), pgvalve().config_path());
}

TEST_F(ConsoleTest, SetLogLevelTakesEffectAtOnceAndResetReturnsToTheFile) {
  PgConn admin = ConnectAdmin();
  NoticeLog notices(admin.get());
  const auto audited_shows = [] {
    return CountOccurrences(pgvalve().process().Log(), "command=\"SHOW DATABASES\"");
  };
  const size_t before = audited_shows();

  const QueryOutcome quiet = RunQuery(admin.get(), "SET LOG_LEVEL = 'error'");
  ASSERT_TRUE(quiet.ok()) << quiet.Describe();
  ASSERT_FALSE(notices.notices().empty());
  EXPECT_EQ(notices.notices().back().message,
            "log level error, was info; RESET LOG_LEVEL returns to the file's info");
  // Audit lines are info: this one is not written.
  ASSERT_TRUE(RunQuery(admin.get(), "SHOW DATABASES").ok());
  const QueryOutcome reset = RunQuery(admin.get(), "RESET LOG_LEVEL");
  ASSERT_TRUE(reset.ok()) << reset.Describe();
  EXPECT_EQ(notices.notices().back().message, "log level info, the configuration's");
  ASSERT_TRUE(RunQuery(admin.get(), "SHOW DATABASES").ok());
  EXPECT_TRUE(WaitUntil([&] { return audited_shows() == before + 1; }))
      << "expected only the SHOW after RESET in the log; found " << audited_shows() - before;

  const QueryOutcome wrong = RunQuery(admin.get(), "SET LOG_LEVEL TO loud");
  EXPECT_EQ(wrong.sqlstate, "22023") << wrong.Describe();
  PgConn monitor = ConnectAdmin(kMonitorUser, kMonitorPassword);
  const QueryOutcome denied = RunQuery(monitor.get(), "SET LOG_LEVEL debug");
  EXPECT_EQ(denied.sqlstate, "42501") << denied.Describe();
}

TEST_F(ConsoleTest, ShowUpstreamsListsEveryUpstream) {
  PgConn admin = ConnectAdmin();
  const ResultTable upstreams = QueryTable(admin.get(), "SHOW UPSTREAMS");
  const auto blue = upstreams.FindRow("name", "blue");
  const auto violet = upstreams.FindRow("name", "violet");
  ASSERT_TRUE(blue && violet) << upstreams.ToString();
  EXPECT_EQ(upstreams.Text(*blue, "port"), std::to_string(pg().port()));
  EXPECT_EQ(upstreams.Text(*blue, "control_user"), "postgres");
  EXPECT_EQ(upstreams.ToString().find(kControlPassword), std::string::npos);
}

// An upstream restarted under an idle control connection, as after an
// incident: SHOW UPSTREAMS no longer shows the dead connection's pid, and
// the first command that needs the connection replaces it and works.
TEST_F(ConsoleTest, FirstControlCommandAfterAnUpstreamRestartWorks) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  QueryTable(admin.get(), "SHOW BACKENDS " + db);  // opens blue's control connection
  auto control_pid = [&admin] {
    const ResultTable upstreams = QueryTable(admin.get(), "SHOW UPSTREAMS");
    const auto blue = upstreams.FindRow("name", "blue");
    return blue ? upstreams.Get(*blue, "control_pid") : std::optional<std::string>("<no row>");
  };
  const std::optional<std::string> before = control_pid();
  ASSERT_TRUE(before.has_value());

  pg().StopPostmaster(PgServer::StopMode::kImmediate);
  pg().StartPostmaster();
  EXPECT_EQ(control_pid(), std::nullopt) << "SHOW UPSTREAMS shows the dead control pid " << *before;

  PgConn direct = ConnectDirect(db, kAppUser);
  const int32_t direct_pid = BackendPid(direct.get());
  const QueryOutcome terminated = RunQuery(admin.get(), "TERMINATE DATABASE " + db + " INCLUDING DIRECT");
  ASSERT_TRUE(terminated.ok()) << terminated.Describe();
  const auto direct_row = terminated.table.FindRow("backend_pid", std::to_string(direct_pid));
  ASSERT_TRUE(direct_row) << terminated.table.ToString();
  EXPECT_EQ(terminated.table.Text(*direct_row, "gone"), "t") << terminated.table.ToString();
  const std::optional<std::string> after = control_pid();
  EXPECT_TRUE(after.has_value());
  EXPECT_NE(after, before);

  pg().StopPostmaster(PgServer::StopMode::kFast);
  pg().StartPostmaster();
  const QueryOutcome backends = RunQuery(admin.get(), "SHOW BACKENDS " + db);
  EXPECT_TRUE(backends.ok()) << backends.Describe();
}

// --- audit --------------------------------------------------------------

TEST_F(ConsoleTest, EveryCommandLeavesOneAuditLine) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn monitor = ConnectAdmin(kMonitorUser, kMonitorPassword);
  const std::string admin_from = "user=\"admin\" from=127.0.0.1:" + std::to_string(LocalPort(admin.get()));
  const std::string monitor_from =
      "user=\"watcher\" from=127.0.0.1:" + std::to_string(LocalPort(monitor.get()));

  ExecOk(admin.get(), "DISABLE " + db + " FORCE REASON 'audit me'");
  ExecOk(admin.get(), "ENABLE " + db);
  EXPECT_EQ(RunQuery(admin.get(), "DISABLE").sqlstate, "42601");
  EXPECT_EQ(ExecAll(admin.get(), "SHOW VERSION; show databases").size(), 2u);
  EXPECT_EQ(RunQuery(monitor.get(), "DISABLE " + db).sqlstate, "42501");
  ExecOk(monitor.get(), "SHOW CLIENTS");

  const std::string log = pgvalve().process().Log();
  const auto expect_once = [&log](const std::string& line) {
    EXPECT_EQ(CountOccurrences(log, line), 1u) << "expected once in the log: " << line;
  };
  expect_once("admin audit: " + admin_from + " command=\"DISABLE " + db +
              " FORCE REASON 'audit me'\" outcome=ok\n");
  expect_once("admin audit: " + admin_from + " command=\"ENABLE " + db + "\" outcome=ok\n");
  expect_once("admin audit: " + admin_from + " command=\"DISABLE\" outcome=error 42601: ");
  expect_once("admin audit: " + admin_from + " command=\"SHOW VERSION\" outcome=ok\n");
  expect_once("admin audit: " + admin_from + " command=\"show databases\" outcome=ok\n");
  expect_once("admin audit: " + monitor_from + " command=\"DISABLE " + db +
              "\" outcome=error 42501: ");
  expect_once("admin audit: " + monitor_from + " command=\"SHOW CLIENTS\" outcome=ok\n");
  EXPECT_EQ(CountOccurrences(log, "admin audit: " + admin_from), 5u) << log;
  EXPECT_EQ(CountOccurrences(log, "admin audit: " + monitor_from), 2u) << log;
  for (std::string_view secret : {kAdminPassword, kMonitorPassword, kControlPassword}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "the log shows \"" << secret << "\"";
  }
}

// The audit line escapes the statement text: a line break inside a quoted
// string must not split the command over several log lines, or whoever may
// send a command (a monitor too, even one that is refused) could write lines
// that look like audit lines of other users.
TEST_F(ConsoleTest, AuditLineStaysOneLineWhateverTheCommandContains) {
  const std::string db = FreshDatabase();
  PgConn monitor = ConnectAdmin(kMonitorUser, kMonitorPassword);
  const std::string forged =
      "admin audit: user=\"admin\" from=10.0.0.1:1 command=\"ENABLE " + db + "\" outcome=ok";
  EXPECT_EQ(RunQuery(monitor.get(), "DISABLE " + db + " REASON 'x\n" + forged + "'").sqlstate,
            "42501");

  const std::string log = pgvalve().process().Log();
  EXPECT_EQ(CountOccurrences(log, "\n" + forged), 0u)
      << "a refused command wrote a line that reads as an audit line of user admin:\n"
      << pgvalve().process().LogTail(10);
  size_t lines_with_outcome = 0;
  for (size_t at = log.find("DISABLE " + db); at != std::string::npos;
       at = log.find("DISABLE " + db, at + 1)) {
    const std::string line = log.substr(at, log.find('\n', at) - at);
    if (line.find("outcome=error 42501") != std::string::npos) ++lines_with_outcome;
  }
  EXPECT_EQ(lines_with_outcome, 1u) << "the audit line of the refused DISABLE was split";
}

}  // namespace
}  // namespace pgvalve::test
