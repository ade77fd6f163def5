// pgvalve instances sharing one etcd ([fleet]): each registers itself under
// a lease, SHOW FLEET on any lists them all, and an instance killed with
// SIGKILL leaves the list once its lease expires. Real etcd, real
// PostgreSQL, the pgvalve binary.

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <set>
#include <string>

#include "tests/e2e/fleet_test_support.h"

namespace pgvalve::test {
namespace {

TEST_F(FleetTest, EveryInstanceListsEveryInstance) {
  std::unique_ptr<AdminPgvalve> a = Instance("a", "/fleet-list");
  std::unique_ptr<AdminPgvalve> b = Instance("b", "/fleet-list");
  const std::set<std::string> both = {"a", "b"};
  std::set<std::string> seen;
  ASSERT_TRUE(WaitUntil([&] { return (seen = FleetIds(*a)) == both; }, kLeaseGone))
      << "SHOW FLEET on a: " << seen.size() << " instances\n" << a->process().LogTail();
  EXPECT_EQ(FleetIds(*b), both);

  // The row of a, seen from a: its address and version, marked as itself.
  PgConn admin = Connect(a->AdminConnString());
  const ResultTable fleet = QueryTable(admin.get(), "SHOW FLEET");
  const std::optional<size_t> self = fleet.FindRow("instance_id", "a");
  ASSERT_TRUE(self) << fleet.ToString();
  EXPECT_EQ(fleet.Text(*self, "self"), "t");
  EXPECT_EQ(fleet.Text(*self, "address"), "127.0.0.1:" + std::to_string(a->listen_port()));
  EXPECT_FALSE(fleet.Text(*self, "version").empty());
  EXPECT_EQ(fleet.Text(*fleet.FindRow("instance_id", "b"), "self"), "f");
  EXPECT_EQ(a->StopAndCheck(), "");
  EXPECT_EQ(b->StopAndCheck(), "");
}

TEST_F(FleetTest, AKilledInstanceLeavesWhenItsLeaseExpires) {
  std::unique_ptr<AdminPgvalve> a = Instance("a", "/fleet-kill");
  std::unique_ptr<AdminPgvalve> b = Instance("b", "/fleet-kill");
  std::set<std::string> seen;
  ASSERT_TRUE(WaitUntil([&] { return (seen = FleetIds(*a)).size() == 2; }, kLeaseGone)) << seen.size();

  b->process().Signal(SIGKILL);
  EXPECT_TRUE(WaitUntil([&] { return (seen = FleetIds(*a)) == std::set<std::string>{"a"}; }, kLeaseGone))
      << "still listed: " << seen.size() << " instances";
  EXPECT_EQ(a->StopAndCheck(), "");
}

TEST_F(FleetTest, WithoutAFleetShowFleetSaysSo) {
  PgConn admin = ConnectAdmin();
  const QueryOutcome outcome = RunQuery(admin.get(), "SHOW FLEET");
  EXPECT_EQ(outcome.sqlstate, "55000") << outcome.Describe();
}

}  // namespace

// The shared pgvalve (ConnectAdmin) is in no fleet.
AdminPgvalveOptions SharedPgvalveOptions(const PgServer&) { return {}; }

}  // namespace pgvalve::test
