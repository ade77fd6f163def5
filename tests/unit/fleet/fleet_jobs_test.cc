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
  EXPECT_EQ(DecodeJobOrigin(EncodeDrain(drain))->instance, "a");
}

TEST(FleetJobsTest, ACutoverAndItsReportReadBackAsWritten) {
  const FleetCutover cutover{.database = "shop", .instance = "a", .job = 3, .grace_ms = 1'000,
                             .timeout_ms = 30'000, .target = "green"};
  const absl::StatusOr<FleetCutover> read = DecodeCutover(EncodeCutover(cutover));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->target, "green");
  EXPECT_EQ(read->grace_ms, 1'000);
  EXPECT_EQ(DecodeJobOrigin(EncodeCutover(cutover))->job, 3u);
  const absl::StatusOr<FleetCutoverReport> report = DecodeCutoverReport(EncodeCutoverReport({"b", true, 2, ""}));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->held);
  EXPECT_EQ(report->closed, 2u);
  EXPECT_FALSE(DecodeCutover("{\"database\":\"shop\",\"instance\":\"a\",\"timeout_ms\":1}").ok());
  const absl::StatusOr<FleetCutover> then = DecodeCutover(EncodeCutover(
      {.database = "shop", .instance = "a", .job = 1, .timeout_ms = 1, .target = "green", .escalation = "CANCEL"}));
  ASSERT_TRUE(then.ok()) << then.status();
  EXPECT_EQ(then->escalation, "CANCEL");
}

TEST(FleetJobsTest, AListOfBackendsReadsBackAsWrittenUnderItsOwnKey) {
  const absl::StatusOr<FleetBackends> none = DecodeBackends(EncodeBackends({.instance = "b"}));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->pids.empty());
  const absl::StatusOr<FleetBackends> two = DecodeBackends(EncodeBackends({"c", {4242, 2147483647}}));
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->instance, "c");
  EXPECT_EQ(two->pids, (std::vector<int32_t>{4242, 2147483647}));
  EXPECT_FALSE(DecodeBackends("{\"instance\":\"c\"}").ok()) << "no pids is not an empty list";
  // Beside the report, under the same job (EndJob clears both).
  EXPECT_EQ(JobReportKey("/p", "shop", "drain", "b", JobPart::kBackends), "/p/jobs/shop/drain/backends/b");
  EXPECT_EQ(JobReportKey("/p", "shop", "drain", "b"), "/p/jobs/shop/drain/reports/b");
  EXPECT_TRUE(JobReportKey("/p", "shop", "drain", "b", JobPart::kBackends).starts_with(
      JobKeysPrefix("/p", "shop", "drain")));
}

TEST(FleetJobsTest, AnAnnouncementWithoutItsEssentialsIsRefused) {
  EXPECT_FALSE(DecodeDrain("{}").ok());
  EXPECT_FALSE(DecodeDrain("{\"database\":\"shop\",\"instance\":\"a\"}").ok());
  EXPECT_FALSE(DecodeDrain("[1]").ok());
}

TEST(FleetJobsTest, ADatabaseNameCannotReachIntoAnotherKey) {
  // '/' in a name is escaped: "a/drain" is not database "a"'s drain.
  EXPECT_EQ(JobKey("/p", "a/drain", "drain"), "/p/jobs/a%2Fdrain/drain");
  EXPECT_FALSE(JobReportKey("/p", "a", "drain", "x").starts_with(JobKeysPrefix("/p", "a%2F", "drain")));
  EXPECT_EQ(JobLockKey("/p", "Shop 1"), "/p/locks/Shop%201");
}

}  // namespace
}  // namespace pgvalve::fleet
