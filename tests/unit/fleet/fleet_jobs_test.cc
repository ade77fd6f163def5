// The fleet's job documents (lock, drain announcement, drain report) and
// their keys. No etcd.

#include "fleet/fleet_jobs.h"

#include <gtest/gtest.h>

namespace pgvalve::fleet {
namespace {

TEST(FleetJobsTest, ADrainAndItsReportReadBackAsWritten) {
  const FleetDrain drain{.database = "shop", .instance = "a", .job = 7, .grace_ms = 30'000,
                         .timeout_ms = 60'000, .escalation = "TERMINATE", .except_roles = {"ops"}};
  const absl::StatusOr<FleetDrain> read = DecodeDrain(EncodeDrain(drain));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->database, "shop");
  EXPECT_EQ(read->job, 7u);
  EXPECT_EQ(read->timeout_ms, 60'000);
  EXPECT_EQ(read->escalation, "TERMINATE");
  EXPECT_EQ(read->except_roles, std::vector<std::string>{"ops"});

  const FleetDrainReport report{.instance = "b", .phase = "done", .sessions = 3, .left = 0,
                                .outcomes = {{"closed idle", 2}, {"terminated", 1}}};
  const absl::StatusOr<FleetDrainReport> back = DecodeDrainReport(EncodeDrainReport(report));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->sessions, 3u);
  EXPECT_EQ(back->outcomes, report.outcomes);
  EXPECT_EQ(DecodeJobLock(EncodeJobLock({"c", "DRAIN by admin"}))->instance, "c");
}

TEST(FleetJobsTest, AnAnnouncementWithoutItsEssentialsIsRefused) {
  EXPECT_FALSE(DecodeDrain("{}").ok());
  EXPECT_FALSE(DecodeDrain("{\"database\":\"shop\",\"instance\":\"a\"}").ok());
  EXPECT_FALSE(DecodeDrain("[1]").ok());
}

TEST(FleetJobsTest, ADatabaseNameCannotReachIntoAnotherKey) {
  // '/' in a name is escaped: "a/drain" is not database "a"'s drain.
  EXPECT_EQ(DrainKey("/p", "a/drain"), "/p/jobs/a%2Fdrain/drain");
  EXPECT_FALSE(DrainReportKey("/p", "a", "x").starts_with(DrainKeysPrefix("/p", "a%2F")));
  EXPECT_EQ(JobLockKey("/p", "Shop 1"), "/p/locks/Shop%201");
}

}  // namespace
}  // namespace pgvalve::fleet
