// CUTOVER across a fleet: the instance that runs it waits until every other
// instance holds its sessions (closing those still in a transaction after
// GRACE) before switching, and then every instance closes its sessions left
// on the old server and sends new ones to the new one; INCLUDING DIRECT
// terminates what connected to the primary itself, never the other
// instances' sessions. Real etcd, a real primary and its streaming standby,
// two pgvalve instances.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/fleet_test_support.h"

namespace pgvalve::test {
namespace {

class FleetCutoverTest : public FleetTest {
 protected:
  void SetUp() override {
    FleetTest::SetUp();
    blue_ = std::make_unique<PgServer>();
    blue_->CreateDatabase("app");
    blue_->RunSql("CREATE TABLE t (n int)", "app");
    green_ = std::make_unique<PgServer>(PgServer::StandbyOf{*blue_});
  }
  void TearDown() override {
    for (auto& instance : instances_) EXPECT_EQ(instance->StopAndCheck(), "");
    instances_.clear();
    green_.reset();
    blue_.reset();
    FleetTest::TearDown();
  }

  // An instance with upstreams blue (the primary) and green (its standby),
  // routing app to blue.
  AdminPgvalve& StartInstance(std::string_view id) {
    AdminPgvalveOptions options;
    options.route_every_database = false;
    options.extra_toml =
        UpstreamToml("green", *green_) + RouteToml("app", "blue") + FleetToml(id, "/fleet-cutover");
    instances_.push_back(std::make_unique<AdminPgvalve>(*blue_, options));
    return *instances_.back();
  }

  std::unique_ptr<PgServer> blue_;
  std::unique_ptr<PgServer> green_;
  std::vector<std::unique_ptr<AdminPgvalve>> instances_;
};

TEST_F(FleetCutoverTest, EveryInstanceHoldsBeforeTheSwitchAndMovesItsSessionsAfter) {
  AdminPgvalve& a = StartInstance("a");
  AdminPgvalve& b = StartInstance("b");
  ASSERT_TRUE(WaitUntil([&] { return ConnectSqlState(a, "app") == "" && ConnectSqlState(b, "app") == ""; }));
  ASSERT_TRUE(WaitUntil([&] { return FleetIds(a).size() == 2; }, kLeaseGone));

  PgConn idle_on_b = Connect(b.ClientConnString("app"));
  PgConn in_transaction_on_b = Connect(b.ClientConnString("app"));
  ExecOk(in_transaction_on_b.get(), "BEGIN");
  ExecOk(in_transaction_on_b.get(), "INSERT INTO t VALUES (1)");
  PgConn direct = Connect(blue_->ConnString("app"));

  PgConn admin_a = Connect(a.AdminConnString());
  NoticeLog notices(admin_a.get());
  // a cannot tell b's backends from direct ones in pg_stat_activity: b
  // lists them, and a terminates only the direct one when the hold
  // begins; b's session in a transaction gets b's GRACE.
  const QueryOutcome cutover = RunQuery(
      admin_a.get(), "CUTOVER app TO green MODE PHYSICAL PROMOTE GRACE '1s' TIMEOUT '30s' INCLUDING DIRECT");
  ASSERT_TRUE(cutover.ok()) << cutover.Describe() << "\n" << a.process().LogTail() << b.process().LogTail();
  std::string said;
  for (const NoticeLog::Notice& notice : notices.notices()) said += notice.message + "\n";
  // b held before the switch, closing its session in a transaction.
  EXPECT_NE(said.find("instance b holds its sessions of app (1 closed after GRACE)"), std::string::npos) << said;

  // The session in a transaction was ended as THEN (TERMINATE, the
  // default) says, by b through its control connection, and its insert
  // rolled back on blue; the idle one was closed when the switch reached b.
  const QueryOutcome commit = RunQuery(in_transaction_on_b.get(), "COMMIT");
  EXPECT_FALSE(commit.ok());
  EXPECT_NE(commit.Describe().find("terminating connection due to administrator command"), std::string::npos)
      << commit.Describe();
  const QueryOutcome idle = RunQuery(idle_on_b.get(), "SELECT 1");
  EXPECT_FALSE(idle.ok());
  EXPECT_NE(idle.message.find("moved to another server"), std::string::npos) << idle.Describe();
  EXPECT_FALSE(RunQuery(direct.get(), "SELECT 1").ok()) << "the direct connection outlived INCLUDING DIRECT";
  // A new session on b goes to green, now a primary, which has no row.
  PgConn after = Connect(b.ClientConnString("app"));
  EXPECT_EQ(ScalarString(after.get(), "SELECT inet_server_port()"), std::to_string(green_->port()));
  EXPECT_EQ(ScalarString(after.get(), "SELECT count(*) FROM t"), "0");
}

}  // namespace
}  // namespace pgvalve::test
