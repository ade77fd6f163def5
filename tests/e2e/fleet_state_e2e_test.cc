// The fleet's shared admin state: DISABLE, PAUSE and their undoing on one
// instance act on every instance, the command returns once each has
// applied it, an instance applies the state before it admits a client, and
// with etcd gone every instance keeps what it had and refuses changes
// until etcd is back. Real etcd, real PostgreSQL, the pgvalve binary.

#include <gtest/gtest.h>

#include <csignal>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/e2e/fleet_test_support.h"
#include "tests/support/free_port.h"
#include "tests/support/http_client.h"

namespace pgvalve::test {
namespace {

// Runs `sql` on `admin`, expecting success, and returns the NOTICEs it
// brought.
std::vector<std::string> RunWithNotices(PGconn* admin, const std::string& sql) {
  NoticeLog log(admin);
  const QueryOutcome outcome = RunQuery(admin, sql);
  EXPECT_TRUE(outcome.ok()) << sql << ": " << outcome.Describe();
  std::vector<std::string> messages;
  for (const NoticeLog::Notice& notice : log.notices()) messages.push_back(notice.message);
  // libpq keeps the receiver it had for a null one: a no-op instead of the
  // log that goes out of scope here.
  PQsetNoticeReceiver(admin, [](void*, const PGresult*) {}, nullptr);
  return messages;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

bool Contains(const std::vector<std::string>& lines, std::string_view needle) {
  return Joined(lines).find(needle) != std::string::npos;
}

class FleetStateTest : public FleetTest {
 protected:
  // Three instances of one fleet, each admitting clients and seeing the
  // other two, so that a command waits for all three.
  void StartThree(std::string_view prefix) {
    for (std::string_view id : {"a", "b", "c"}) instances_.push_back(Instance(id, prefix));
    for (auto& instance : instances_) ASSERT_TRUE(WaitAdmitting(*instance)) << instance->process().LogTail();
    ASSERT_TRUE(WaitUntil([&] { return FleetIds(*instances_[0]).size() == 3; }, kLeaseGone));
  }
  AdminPgvalve& a() { return *instances_[0]; }
  AdminPgvalve& b() { return *instances_[1]; }
  AdminPgvalve& c() { return *instances_[2]; }

  void TearDown() override {
    for (auto& instance : instances_) EXPECT_EQ(instance->StopAndCheck(), "");
    instances_.clear();
    FleetTest::TearDown();
  }

  std::vector<std::unique_ptr<AdminPgvalve>> instances_;
};

TEST_F(FleetStateTest, DisableOnOneInstanceRefusesClientsOnEveryInstance) {
  const std::string database = FreshDatabase();
  StartThree("/fleet-disable");
  ASSERT_EQ(ConnectSqlState(c(), database), "");

  PgConn admin_a = Connect(a().AdminConnString());
  const std::vector<std::string> notices = RunWithNotices(admin_a.get(), "DISABLE " + database + " FORCE");
  // Returned once all three had applied it: no waiting needed on c.
  EXPECT_TRUE(Contains(notices, "applied by all 3 instance(s) of the fleet")) << Joined(notices);
  EXPECT_EQ(ConnectSqlState(c(), database), "55000");
  EXPECT_EQ(ConnectSqlState(b(), database), "55000");
  PgConn admin_c = Connect(c().AdminConnString());
  EXPECT_EQ(DatabaseColumn(admin_c.get(), database, "state_origin"), "fleet");
  EXPECT_EQ(DatabaseColumn(admin_a.get(), database, "state_origin"), "admin command");

  PgConn admin_b = Connect(b().AdminConnString());
  EXPECT_TRUE(Contains(RunWithNotices(admin_b.get(), "ENABLE " + database), "applied by all 3"));
  EXPECT_EQ(ConnectSqlState(a(), database), "");
  EXPECT_EQ(ConnectSqlState(c(), database), "");
}

TEST_F(FleetStateTest, PauseOnOneInstanceHoldsRequestsOnTheOthersUntilResume) {
  const std::string database = FreshDatabase();
  StartThree("/fleet-pause");
  PgConn client_a = Connect(a().ClientConnString(database));
  PgConn client_c = Connect(c().ClientConnString(database));
  PgConn admin_a = Connect(a().AdminConnString());
  PgConn admin_c = Connect(c().AdminConnString());
  const std::string id_a = ClientId(admin_a.get(), client_a.get());
  const std::string id_c = ClientId(admin_c.get(), client_c.get());

  PgConn admin_b = Connect(b().AdminConnString());
  EXPECT_TRUE(Contains(RunWithNotices(admin_b.get(), "PAUSE " + database + " FORCE"), "applied by all 3"));
  Background<QueryOutcome> on_a = QueryInBackground(client_a.get(), "SELECT 1");
  Background<QueryOutcome> on_c = QueryInBackground(client_c.get(), "SELECT 2");
  EXPECT_TRUE(WaitForClientState(admin_a.get(), id_a, "held"));
  EXPECT_TRUE(WaitForClientState(admin_c.get(), id_c, "held"));
  EXPECT_FALSE(on_a.done());
  EXPECT_FALSE(on_c.done());

  EXPECT_TRUE(Contains(RunWithNotices(admin_b.get(), "RESUME " + database), "applied by all 3"));
  EXPECT_TRUE(on_a.Result().ok()) << on_a.Result().Describe();
  EXPECT_TRUE(on_c.Result().ok()) << on_c.Result().Describe();
}

TEST_F(FleetStateTest, DrainOnOneInstanceEmptiesTheDatabaseOfEveryInstancesSessions) {
  const std::string database = FreshDatabase();
  StartThree("/fleet-drain");
  std::vector<PgConn> clients;
  clients.push_back(Connect(a().ClientConnString(database)));
  clients.push_back(Connect(a().ClientConnString(database)));
  clients.push_back(Connect(b().ClientConnString(database)));
  ExecOk(clients.back().get(), "BEGIN");  // idle in transaction: terminated after GRACE
  ExecOk(clients.back().get(), "SELECT 1");
  PgConn admin_c = Connect(c().AdminConnString());

  // While it runs on c, another DRAIN of it is refused anywhere, naming c.
  NoticeLog notices(admin_c.get());
  Background<QueryOutcome> drain = QueryInBackground(admin_c.get(), "DRAIN " + database + " GRACE '2s'");
  PgConn monitor_c = Connect(c().AdminConnString());
  // Listed once it holds the lock; b's session in a transaction keeps the
  // fleet's drain going for GRACE at least.
  ASSERT_TRUE(WaitUntil([&] { return QueryTable(monitor_c.get(), "SHOW DRAINS").size() == 1; }));
  PgConn admin_a = Connect(a().AdminConnString());
  const QueryOutcome second = RunQuery(admin_a.get(), "DRAIN " + database);
  EXPECT_EQ(second.sqlstate, "55006") << second.Describe();
  EXPECT_NE(second.message.find("running on instance c"), std::string::npos) << second.Describe();

  ASSERT_TRUE(drain.Result().ok()) << drain.Result().Describe();
  std::vector<std::string> lines;
  for (const NoticeLog::Notice& notice : notices.notices()) lines.push_back(notice.message);
  EXPECT_TRUE(Contains(lines, "instance a: 2 session(s) (closed idle 2), none left")) << Joined(lines);
  EXPECT_TRUE(Contains(lines, "instance b: 1 session(s) (terminated 1), none left")) << Joined(lines);
  PgConn direct = ConnectDirect("postgres");
  ExecOk(direct.get(), "DROP DATABASE " + QuoteIdentifier(database));
  // The lock went with the drain.
  const QueryOutcome after = RunQuery(admin_a.get(), "DRAIN " + database);
  EXPECT_TRUE(after.ok()) << after.Describe();
}

// INCLUDING DIRECT terminates what connected to PostgreSQL itself, never
// another instance's session: pg_stat_activity cannot tell them apart, so
// each instance lists its backends when the drain is announced, and the
// session stays its own instance's to drain, with its THEN.
TEST_F(FleetStateTest, DrainIncludingDirectLeavesTheOtherInstancesSessionsToThem) {
  const std::string database = FreshDatabase();
  StartThree("/fleet-direct");
  PgConn on_b = Connect(b().ClientConnString(database));
  ExecOk(on_b.get(), "BEGIN");
  const std::string b_pid = ScalarString(on_b.get(), "SELECT pg_backend_pid()");
  PgConn direct = ConnectDirect(database);
  const std::string direct_pid = ScalarString(direct.get(), "SELECT pg_backend_pid()");

  PgConn admin_a = Connect(a().AdminConnString());
  const std::vector<std::string> lines =
      RunWithNotices(admin_a.get(), "DRAIN " + database + " GRACE '1s' THEN CANCEL INCLUDING DIRECT");
  EXPECT_TRUE(Contains(lines, "instance b: 1 session(s) (cancelled 1), none left")) << Joined(lines);
  EXPECT_TRUE(Contains(lines, "instance c: 0 session(s), none left")) << Joined(lines);

  // a's report names the direct backend, terminated, and not b's.
  const ResultTable drains = QueryTable(admin_a.get(), "SHOW DRAINS");
  ASSERT_EQ(drains.size(), 1u) << drains.ToString();
  const ResultTable report = QueryTable(admin_a.get(), "SHOW DRAIN " + drains.Text(0, "job_id"));
  const std::optional<size_t> row = report.FindRow("backend_pid", direct_pid);
  ASSERT_TRUE(row) << report.ToString();
  EXPECT_EQ(report.Text(*row, "outcome"), "terminated") << report.ToString();
  EXPECT_FALSE(report.FindRow("backend_pid", b_pid)) << report.ToString();
  EXPECT_FALSE(RunQuery(direct.get(), "SELECT 1").ok());
  EXPECT_FALSE(RunQuery(on_b.get(), "SELECT 1").ok());
  PgConn superuser = ConnectDirect("postgres");
  ExecOk(superuser.get(), "DROP DATABASE " + QuoteIdentifier(database));
}

TEST_F(FleetStateTest, ALateInstanceAppliesTheStateBeforeItAdmitsAClient) {
  const std::string database = FreshDatabase();
  std::unique_ptr<AdminPgvalve> a = Instance("a", "/fleet-late");
  ASSERT_TRUE(WaitAdmitting(*a));
  PgConn admin_a = Connect(a->AdminConnString());
  RunWithNotices(admin_a.get(), "DISABLE " + database + " FORCE");

  std::unique_ptr<AdminPgvalve> late = Instance("late", "/fleet-late");
  // Its first client comes as soon as its port accepts: told to come back
  // (57P03) or refused by the DISABLE (55000), never admitted.
  const std::string first = ConnectSqlState(*late, database);
  EXPECT_TRUE(first == "57P03" || first == "55000") << "first client: \"" << first << "\"";
  ASSERT_TRUE(WaitAdmitting(*late)) << late->process().LogTail();
  EXPECT_EQ(ConnectSqlState(*late, database), "55000");
  EXPECT_EQ(a->StopAndCheck(), "");
  EXPECT_EQ(late->StopAndCheck(), "");
}

TEST_F(FleetStateTest, WithEtcdGoneInstancesKeepTheirStateAndRefuseChangesUntilItReturns) {
  const std::string kept = FreshDatabase("kept");
  const std::string refused = FreshDatabase("refused");
  const uint16_t http_port = FreeTcpPort();
  std::unique_ptr<AdminPgvalve> a = Instance(
      "a", "/fleet-etcd-gone", "\n[http]\nlisten = [\"127.0.0.1:" + std::to_string(http_port) + "\"]\n");
  std::unique_ptr<AdminPgvalve> b = Instance("b", "/fleet-etcd-gone");
  ASSERT_TRUE(WaitAdmitting(*a));
  ASSERT_TRUE(WaitAdmitting(*b));
  ASSERT_TRUE(WaitUntil([&] { return FleetIds(*a).size() == 2; }, kLeaseGone));
  PgConn admin_a = Connect(a->AdminConnString());
  EXPECT_TRUE(Contains(RunWithNotices(admin_a.get(), "DISABLE " + kept + " FORCE"), "applied by all 2"));

  etcd().Stop();
  // Fail static: the DISABLE stays in force on both.
  EXPECT_EQ(ConnectSqlState(*b, kept), "55000");
  EXPECT_EQ(ConnectSqlState(*a, kept), "55000");
  // A change is refused, and not made here either.
  const QueryOutcome disable = RunQuery(admin_a.get(), "DISABLE " + refused + " FORCE");
  EXPECT_EQ(disable.sqlstate, "08006") << disable.Describe();
  EXPECT_NE(disable.message.find("etcd"), std::string::npos) << disable.Describe();
  EXPECT_EQ(ConnectSqlState(*a, refused), "");
  // Still serving, and saying why changes are refused.
  HttpResponse ready;
  std::string http_error;
  EXPECT_TRUE(WaitUntil([&] {
    try {
      ready = HttpGet(http_port, "/readyz");
    } catch (const std::runtime_error& error) {
      http_error = error.what();  // not listening yet: asked again
      return false;
    }
    return ready.status == 200 && ready.body.find("\"fleet\"") != std::string::npos;
  })) << ready.ToString() << http_error;
  EXPECT_NE(ready.body.find("unreachable"), std::string::npos) << ready.body;
  // An instance that starts now has no state to apply: it admits nobody.
  std::unique_ptr<AdminPgvalve> c = Instance("c", "/fleet-etcd-gone");
  EXPECT_EQ(ConnectSqlState(*c, "postgres"), "57P03");

  etcd().Start();
  // Everything converges: c applies the DISABLE before its first client,
  // and a change made on a reaches the other two.
  ASSERT_TRUE(WaitAdmitting(*c)) << c->process().LogTail();
  EXPECT_EQ(ConnectSqlState(*c, kept), "55000");
  ASSERT_TRUE(WaitUntil([&] { return FleetIds(*a).size() == 3; }, kLeaseGone));
  // A change is accepted again once a's watch is back; every instance
  // then applies it (b and c may take a moment to reconnect: no bound is
  // asserted on that).
  EXPECT_TRUE(WaitUntil([&] { return RunQuery(admin_a.get(), "ENABLE " + kept).ok(); }));
  EXPECT_TRUE(WaitUntil([&] { return ConnectSqlState(*b, kept).empty() && ConnectSqlState(*c, kept).empty(); }));
  EXPECT_EQ(a->StopAndCheck(), "");
  EXPECT_EQ(b->StopAndCheck(), "");
  EXPECT_EQ(c->StopAndCheck(), "");
}

TEST_F(FleetStateTest, AnInstanceThatDoesNotApplyIsNamedAndADeadOneIsNoLongerAwaited) {
  const std::string database = FreshDatabase();
  // A lease that outlives the short wait by far: b stays listed while stopped.
  const std::string fleet_toml = "ack_timeout = \"500ms\"\n";
  std::unique_ptr<AdminPgvalve> a = Instance("a", "/fleet-lagging", fleet_toml, "6s");
  std::unique_ptr<AdminPgvalve> b = Instance("b", "/fleet-lagging", fleet_toml, "6s");
  ASSERT_TRUE(WaitAdmitting(*a));
  ASSERT_TRUE(WaitAdmitting(*b));
  ASSERT_TRUE(WaitUntil([&] { return FleetIds(*a).size() == 2; }, kLeaseGone));
  PgConn admin_a = Connect(a->AdminConnString());

  b->process().Signal(SIGSTOP);
  const std::vector<std::string> stopped = RunWithNotices(admin_a.get(), "DISABLE " + database + " FORCE");
  EXPECT_TRUE(Contains(stopped, "1 of 2 instance(s) did not apply revision")) << Joined(stopped);
  EXPECT_TRUE(Contains(stopped, "within 500 ms: b (at revision")) << Joined(stopped);

  // Back, it catches up by itself: SHOW FLEET shows it at the DISABLE's
  // revision or past it.
  const std::string text = Joined(stopped);
  const size_t at = text.find("did not apply revision ");
  ASSERT_NE(at, std::string::npos) << text;
  const int64_t disabled_at = std::stoll(text.substr(at + std::string("did not apply revision ").size()));
  b->process().Signal(SIGCONT);
  EXPECT_TRUE(WaitUntil([&] {
    const ResultTable fleet = QueryTable(admin_a.get(), "SHOW FLEET");
    const auto row_b = fleet.FindRow("instance_id", "b");
    return row_b && std::stoll(fleet.Text(*row_b, "applied_revision")) >= disabled_at;
  }));
  EXPECT_EQ(ConnectSqlState(*b, database), "55000");

  // Killed, it leaves when its lease expires, and nobody waits for it.
  b->process().Signal(SIGKILL);
  ASSERT_TRUE(WaitUntil([&] { return FleetIds(*a) == std::set<std::string>{"a"}; }, kLeaseGone));
  EXPECT_TRUE(Contains(RunWithNotices(admin_a.get(), "ENABLE " + database), "applied by all 1 instance(s)"));
  EXPECT_EQ(a->StopAndCheck(), "");
}

}  // namespace
}  // namespace pgvalve::test
