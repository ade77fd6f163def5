// Access rules against a real PostgreSQL 15: refusals by source, user and
// database with FATAL 28000 naming the rule, the final "no rule matched",
// no 3D000 for a refused client, no session or database state for one,
// the admin console's own rules, SHOW RULES' hit counts, and RELOAD.

#include <gtest/gtest.h>
#include <signal.h>

#include <string>

#include "tests/e2e/admin_test_support.h"
#include "tests/support/temp_dir.h"

namespace pgvalve::test {
namespace {

// Routed databases; "rules_ghost" and "rules_unrouted" have no route and do
// not exist.
constexpr std::string_view kAppDb = "rules_app";
constexpr std::string_view kSocketsOnlyDb = "rules_sockets_only";
constexpr std::string_view kGhostDb = "rules_ghost";
constexpr std::string_view kUnroutedDb = "rules_unrouted";
constexpr std::string_view kIntern = "intern";

const std::string& SocketDir() {
  static const TempDir dir("pgvalve-rules");
  return dir.path();
}

std::string UnixConnString(const AdminPgvalve& pgvalve, std::string_view database,
                           std::string_view user = kSuperuser) {
  return "host=" + SocketDir() + " port=" + std::to_string(pgvalve.listen_port()) +
         " dbname=" + std::string(database) + " user=" + std::string(user);
}

constexpr std::string_view kProxyRules = R"toml(
[[proxy.rules]]
name = "no interns"
users = ["intern"]
action = "deny"
[[proxy.rules]]
name = "ghost town"
databases = ["rules_ghost"]
action = "deny"
[[proxy.rules]]
name = "sockets only"
databases = ["rules_sockets_only"]
sources = ["127.0.0.1/32"]
action = "deny"
[[proxy.rules]]
sources = ["127.0.0.0/8", "::1", "unix"]
action = "allow"
)toml";

constexpr std::string_view kAdminRules = R"toml(
[[admin.rules]]
name = "no watchers"
users = ["watcher"]
action = "deny"
[[admin.rules]]
sources = ["127.0.0.0/8"]
action = "allow"
)toml";

}  // namespace

AdminPgvalveOptions SharedPgvalveOptions(const PgServer& pg) {
  AdminPgvalveOptions options;
  options.proxy_toml = "unix_socket_dir = \"" + SocketDir() + "\"\n" + std::string(kProxyRules);
  options.route_every_database = false;
  options.extra_toml = RouteToml(kAppDb, "blue") + RouteToml(kSocketsOnlyDb, "blue") +
                       std::string(kAdminRules);
  return options;
}

namespace {

class RulesTest : public AdminConsoleTest {
 protected:
  void SetUp() override {
    AdminConsoleTest::SetUp();
    EnsureDatabase(kAppDb);
    EnsureDatabase(kSocketsOnlyDb);
  }

  // SHOW RULES' row of `name` on `listener`.
  static std::optional<size_t> RuleRow(const ResultTable& rules, std::string_view listener,
                                       std::string_view name) {
    for (size_t row = 0; row < rules.size(); ++row) {
      if (rules.Text(row, "listener") == listener && rules.Text(row, "name") == name) return row;
    }
    return std::nullopt;
  }

  static int64_t Hits(PGconn* admin, std::string_view listener, std::string_view name) {
    const ResultTable rules = QueryTable(admin, "SHOW RULES");
    const std::optional<size_t> row = RuleRow(rules, listener, name);
    if (!row) throw std::runtime_error("no SHOW RULES row " + std::string(name) + ":\n" + rules.ToString());
    return std::stoll(rules.Text(*row, "hits"));
  }

  static void ExpectRefusedBy(const ConnectOutcome& outcome, std::string_view expected_message) {
    EXPECT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.sqlstate, "28000") << outcome.error;
    EXPECT_NE(outcome.error.find("FATAL:  " + std::string(expected_message)), std::string::npos)
        << outcome.error;
  }
};

TEST_F(RulesTest, ACidrRuleRefusesTcpWhileTheUnixSocketIsAllowed) {
  ExpectRefusedBy(TryConnect(pgvalve().ClientConnString(kSocketsOnlyDb)),
                  "pgvalve: rule \"sockets only\" refuses host \"127.0.0.1\", user \"postgres\", "
                  "database \"rules_sockets_only\", no encryption");
  ConnectOutcome over_socket = TryConnect(UnixConnString(pgvalve(), kSocketsOnlyDb));
  ASSERT_TRUE(over_socket.ok()) << over_socket.error;
  EXPECT_EQ(ScalarString(over_socket.conn.get(), "SELECT current_database()"), kSocketsOnlyDb);
  // Other databases over TCP are allowed by the last rule.
  ConnectOutcome app = TryConnect(pgvalve().ClientConnString(kAppDb));
  ASSERT_TRUE(app.ok()) << app.error;
  EXPECT_EQ(ScalarString(app.conn.get(), "SELECT 1"), "1");
}

TEST_F(RulesTest, AUserRuleRefusesThatUserOverEveryTransport) {
  ExpectRefusedBy(TryConnect(pgvalve().ClientConnString(kAppDb, kIntern)),
                  "pgvalve: rule \"no interns\" refuses host \"127.0.0.1\", user \"intern\", "
                  "database \"rules_app\", no encryption");
  ExpectRefusedBy(TryConnect(UnixConnString(pgvalve(), kAppDb, kIntern)),
                  "pgvalve: rule \"no interns\" refuses host \"[local]\", user \"intern\", "
                  "database \"rules_app\", no encryption");
  EXPECT_NE(pgvalve().process().Log().find("refused by the proxy listener's access rules"),
            std::string::npos)
      << pgvalve().process().LogTail();
}

// A refused client must not learn which databases pgvalve serves: a
// database without a route is 28000 like any other, never 3D000.
TEST_F(RulesTest, ADatabaseRuleRefusesWith28000EvenWithoutARoute) {
  ExpectRefusedBy(TryConnect(pgvalve().ClientConnString(kGhostDb)),
                  "pgvalve: rule \"ghost town\" refuses host \"127.0.0.1\", user \"postgres\", "
                  "database \"rules_ghost\", no encryption");
  ExpectRefusedBy(TryConnect(pgvalve().ClientConnString(kUnroutedDb, kIntern)),
                  "pgvalve: rule \"no interns\" refuses host \"127.0.0.1\", user \"intern\", "
                  "database \"rules_unrouted\", no encryption");
  // An allowed client asking for the same database learns there is no route.
  const ConnectOutcome allowed = TryConnect(pgvalve().ClientConnString(kUnroutedDb));
  EXPECT_EQ(allowed.sqlstate, "3D000") << allowed.error;
}

TEST_F(RulesTest, ARefusalCreatesNoSessionAndNoDatabaseState) {
  PgConn admin = ConnectAdmin();
  PgConn first = ConnectClient(kAppDb);
  const uint64_t first_id = std::stoull(ClientId(admin.get(), first.get()));

  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(TryConnect(pgvalve().ClientConnString(kGhostDb)).sqlstate, "28000");
    EXPECT_EQ(TryConnect(pgvalve().ClientConnString(kAppDb, kIntern)).sqlstate, "28000");
  }

  // No session record was made: the next session's id follows the first.
  PgConn second = ConnectClient(kAppDb);
  EXPECT_EQ(std::stoull(ClientId(admin.get(), second.get())), first_id + 1);
  EXPECT_FALSE(ShowClients(admin.get()).FindRow("database", kGhostDb)) << ShowClients(admin.get()).ToString();
  // An ended session would have left its counters under its database, or
  // under "(other databases)" had it never reached a server.
  const ResultTable stats = QueryTable(admin.get(), "SHOW STATS");
  EXPECT_FALSE(stats.FindRow("database", kGhostDb)) << stats.ToString();
  EXPECT_FALSE(stats.FindRow("database", "(other databases)")) << stats.ToString();
  // Nor a database gate: pgvalve still does not know the name.
  EXPECT_EQ(DatabaseColumn(admin.get(), kGhostDb, "state"), "<none>");
  const QueryOutcome disable = RunQuery(admin.get(), "DISABLE " + std::string(kGhostDb));
  EXPECT_EQ(disable.sqlstate, "3D000") << disable.Describe();
}

TEST_F(RulesTest, AdminRulesRefuseAnAdminLogin) {
  const ConnectOutcome watcher = TryConnect(pgvalve().AdminConnString(kMonitorUser, kMonitorPassword));
  ExpectRefusedBy(watcher,
                  "pgvalve: rule \"no watchers\" refuses host \"127.0.0.1\", user \"watcher\", "
                  "database \"pgvalve\", no encryption");
  // Refused before the password exchange: a wrong password gets the same.
  EXPECT_EQ(TryConnect(pgvalve().AdminConnString(kMonitorUser, "wrong")).sqlstate, "28000");
  PgConn admin = ConnectAdmin();
  EXPECT_EQ(QueryTable(admin.get(), "SHOW VERSION").size(), 1u);
  // The proxy's rules do not apply to the console, nor the console's to the proxy.
  // (PostgreSQL itself refuses "watcher", who is no role there.)
  const ConnectOutcome watcher_as_client = TryConnect(pgvalve().ClientConnString(kAppDb, "watcher"));
  EXPECT_EQ(watcher_as_client.error.find("pgvalve: rule"), std::string::npos) << watcher_as_client.error;
}

TEST_F(RulesTest, ShowRulesListsBothListenersAndCountsHits) {
  PgConn admin = ConnectAdmin();
  const ResultTable rules = QueryTable(admin.get(), "SHOW RULES");
  ASSERT_EQ(rules.size(), 4u + 1u + 2u + 1u) << rules.ToString();
  const std::optional<size_t> sockets = RuleRow(rules, "proxy", "sockets only");
  ASSERT_TRUE(sockets) << rules.ToString();
  EXPECT_EQ(rules.Text(*sockets, "position"), "3");
  EXPECT_EQ(rules.Text(*sockets, "databases"), "rules_sockets_only");
  EXPECT_EQ(rules.Text(*sockets, "users"), "*");
  EXPECT_EQ(rules.Text(*sockets, "sources"), "127.0.0.1/32");
  EXPECT_EQ(rules.Text(*sockets, "tls"), "any");
  EXPECT_EQ(rules.Text(*sockets, "action"), "deny");
  const std::optional<size_t> unnamed = RuleRow(rules, "proxy", "proxy rule 4");
  ASSERT_TRUE(unnamed) << rules.ToString();
  EXPECT_EQ(rules.Text(*unnamed, "sources"), "127.0.0.0/8, ::1/128, unix");
  EXPECT_EQ(rules.Text(*unnamed, "action"), "allow");
  for (std::string_view listener : {"proxy", "admin"}) {
    const std::optional<size_t> last = RuleRow(rules, listener, "(no rule matched)");
    ASSERT_TRUE(last) << listener << "\n" << rules.ToString();
    EXPECT_EQ(rules.Get(*last, "position"), std::nullopt);
    EXPECT_EQ(rules.Text(*last, "action"), "deny");
  }

  const int64_t interns = Hits(admin.get(), "proxy", "no interns");
  const int64_t allowed = Hits(admin.get(), "proxy", "proxy rule 4");
  const int64_t watchers = Hits(admin.get(), "admin", "no watchers");
  const int64_t admins = Hits(admin.get(), "admin", "admin rule 2");
  EXPECT_EQ(TryConnect(pgvalve().ClientConnString(kAppDb, kIntern)).sqlstate, "28000");
  EXPECT_EQ(TryConnect(pgvalve().ClientConnString(kAppDb, kIntern)).sqlstate, "28000");
  PgConn client = ConnectClient(kAppDb);
  EXPECT_EQ(TryConnect(pgvalve().AdminConnString(kMonitorUser, kMonitorPassword)).sqlstate, "28000");
  PgConn second_admin = ConnectAdmin();
  EXPECT_EQ(Hits(admin.get(), "proxy", "no interns"), interns + 2);
  EXPECT_EQ(Hits(admin.get(), "proxy", "proxy rule 4"), allowed + 1);
  EXPECT_EQ(Hits(admin.get(), "admin", "no watchers"), watchers + 1);
  EXPECT_EQ(Hits(admin.get(), "admin", "admin rule 2"), admins + 1);
}

// Tests that change the rules run a pgvalve of their own.
class OwnRulesTest : public RulesTest {
 protected:
  void TearDown() override {
    if (own_) {
      EXPECT_EQ(own_->StopAndCheck(), "");
    }
    RulesTest::TearDown();
  }
  AdminPgvalve& StartOwn(AdminPgvalveOptions options) {
    own_ = std::make_unique<AdminPgvalve>(pg(), std::move(options));
    return *own_;
  }

  std::unique_ptr<AdminPgvalve> own_;
};

TEST_F(OwnRulesTest, AClientNoRuleMatchesIsRefused) {
  AdminPgvalveOptions options;
  options.proxy_toml = "[[proxy.rules]]\nname = \"office\"\nsources = [\"10.0.0.0/8\"]\naction = \"allow\"\n";
  AdminPgvalve& pgvalve = StartOwn(options);
  ExpectRefusedBy(TryConnect(pgvalve.ClientConnString(kAppDb)),
                  "pgvalve: no rule allows host \"127.0.0.1\", user \"postgres\", database "
                  "\"rules_app\", no encryption");
  // The console keeps its default rules, which allow loopback.
  PgConn admin = Connect(pgvalve.AdminConnString());
  EXPECT_EQ(Hits(admin.get(), "proxy", "(no rule matched)"), 1);
  EXPECT_EQ(Hits(admin.get(), "proxy", "office"), 0);
  EXPECT_EQ(Hits(admin.get(), "admin", "local (default)"), 1);
}

TEST_F(OwnRulesTest, ReloadReadsTheRulesAndABrokenRulesSectionKeepsTheOldOnes) {
  AdminPgvalve& pgvalve = StartOwn({});
  PgConn admin = Connect(pgvalve.AdminConnString());
  // No rules in the file: loopback is allowed by the defaults.
  ConnectOutcome before = TryConnect(pgvalve.ClientConnString(kAppDb));
  ASSERT_TRUE(before.ok()) << before.error;
  EXPECT_EQ(Hits(admin.get(), "proxy", "local (default)"), 1);

  AdminPgvalveOptions closed;
  closed.proxy_toml = "[[proxy.rules]]\nname = \"closed\"\ndatabases = [\"rules_app\"]\naction = \"deny\"\n"
                      "[[proxy.rules]]\naction = \"allow\"\n";
  pgvalve.WriteConfig(closed);
  ExecOk(admin.get(), "RELOAD");
  ExpectRefusedBy(TryConnect(pgvalve.ClientConnString(kAppDb)),
                  "pgvalve: rule \"closed\" refuses host \"127.0.0.1\", user \"postgres\", database "
                  "\"rules_app\", no encryption");
  // The session opened before the reload goes on.
  EXPECT_EQ(ScalarString(before.conn.get(), "SELECT 1"), "1");

  AdminPgvalveOptions broken;
  broken.proxy_toml = "[[proxy.rules]]\nsources = [\"127.0.0.1/8\"]\naction = \"allow\"\n";
  pgvalve.WriteConfig(broken);
  const QueryOutcome refused = RunQuery(admin.get(), "RELOAD");
  EXPECT_EQ(refused.sqlstate, "F0000") << refused.Describe();
  EXPECT_NE(refused.message.find("proxy.rules[0].sources[0]: invalid client network \"127.0.0.1/8\""),
            std::string::npos)
      << refused.Describe();
  EXPECT_EQ(TryConnect(pgvalve.ClientConnString(kAppDb)).sqlstate, "28000");
  EXPECT_EQ(Hits(admin.get(), "proxy", "closed"), 2);

  // SIGHUP re-reads them too; the unchanged rule keeps its count.
  AdminPgvalveOptions reopened;
  reopened.proxy_toml = "[[proxy.rules]]\naction = \"allow\"\n"
                        "[[proxy.rules]]\nname = \"closed\"\ndatabases = [\"rules_app\"]\naction = \"deny\"\n";
  pgvalve.WriteConfig(reopened);
  pgvalve.process().Signal(SIGHUP);
  EXPECT_TRUE(WaitUntil([&] {
    const ResultTable rules = QueryTable(admin.get(), "SHOW RULES");
    const std::optional<size_t> row = RuleRow(rules, "proxy", "closed");
    return row && rules.Text(*row, "position") == "2";
  })) << pgvalve.process().LogTail();
  EXPECT_EQ(Hits(admin.get(), "proxy", "closed"), 2);
  ConnectOutcome after = TryConnect(pgvalve.ClientConnString(kAppDb));
  EXPECT_TRUE(after.ok()) << after.error;
  EXPECT_EQ(Hits(admin.get(), "proxy", "proxy rule 1"), 1);
}

}  // namespace
}  // namespace pgvalve::test
