// The limit planner's decisions, from session records and a clock the test
// sets: what is due, what is done once, whom a limit spares. No sockets.

#include "admin/limits/limit_planner.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace pgvalve::admin {
namespace {

using config::Limit;
using proxy::SessionRecord;
using proxy::SessionState;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Records = std::vector<std::shared_ptr<SessionRecord>>;

class LimitPlannerTest : public ::testing::Test {
 protected:
  LimitPlannerTest() {
    config_.databases["*"] = config::DatabaseRoute{.name = "*", .upstream = "blue"};
    config_.databases["app"] = config::DatabaseRoute{.name = "app", .upstream = "blue"};
  }

  std::shared_ptr<SessionRecord> Session(SessionState state, std::string database = "app",
                                         std::string user = "alice") {
    auto record = std::make_shared<SessionRecord>(
        proxy::SessionIdentity{.id = next_id_, .database = std::move(database), .user = std::move(user)},
        "test", "blue");
    if (state != SessionState::kStarting) {
      const auto id = static_cast<int32_t>(next_id_);
      record->SetBackend(id, std::make_shared<const proxy::BackendKey>(proxy::BackendKey{.pid = 1000 + id}));
      record->SetState(state);
    }
    ++next_id_;
    return record;
  }

  void ConfigLimit(const std::string& database, Limit limit, milliseconds value,
                   std::vector<std::string> except = {}) {
    config_.databases[database].limits.Set(limit, {value, std::move(except)});
  }

  std::vector<DueAction> Plan(const Records& sessions, proxy::WallClock::time_point now) {
    LimitResolver resolver(config_, runtime_);
    return planner_.Plan(sessions, resolver, now);
  }

  config::Config config_;
  RuntimeLimits runtime_;
  LimitPlanner planner_;
  uint64_t next_id_ = 1;
};

TEST_F(LimitPlannerTest, ALongQueryIsCancelledOnceThenTerminatedAfterTheGrace) {
  ConfigLimit("app", Limit::kQueryTimeout, seconds(10));
  ConfigLimit("app", Limit::kQueryTimeoutGrace, seconds(3));
  auto session = Session(SessionState::kActive);
  const auto start = session->query_start();
  const Records sessions = {session};

  EXPECT_TRUE(Plan(sessions, start + seconds(9)).empty());
  const auto first = Plan(sessions, start + seconds(10));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].action, LimitAction::kCancel);
  EXPECT_EQ(first[0].limit, Limit::kQueryTimeout);
  EXPECT_EQ(first[0].value, seconds(10));
  EXPECT_EQ(first[0].set_on, "app");
  EXPECT_EQ(first[0].session, session);
  EXPECT_EQ(first[0].query_start, start);

  EXPECT_TRUE(Plan(sessions, start + seconds(11)).empty()) << "one cancel per query";
  EXPECT_TRUE(Plan(sessions, start + milliseconds(12'999)).empty()) << "within the grace";
  const auto second = Plan(sessions, start + seconds(13));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].action, LimitAction::kTerminate);
  EXPECT_TRUE(Plan(sessions, start + seconds(14)).empty());
  // Should the backend survive (or the terminate fail), once per grace.
  ASSERT_EQ(Plan(sessions, start + seconds(16)).size(), 1u);
}

TEST_F(LimitPlannerTest, TheGraceDefaultsToFiveSeconds) {
  ConfigLimit("*", Limit::kQueryTimeout, seconds(1));
  auto session = Session(SessionState::kActive);
  const auto start = session->query_start();
  ASSERT_EQ(Plan({session}, start + seconds(1)).size(), 1u);
  EXPECT_TRUE(Plan({session}, start + milliseconds(5999)).empty());
  const auto due = Plan({session}, start + seconds(6));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].action, LimitAction::kTerminate);
  EXPECT_EQ(due[0].set_on, "*");
}

TEST_F(LimitPlannerTest, TheNextQueryOfThePipelineIsCancelledOnItsOwn) {
  ConfigLimit("app", Limit::kQueryTimeout, seconds(1));
  auto session = Session(SessionState::kActive);
  const auto first_start = session->query_start();
  ASSERT_EQ(Plan({session}, first_start + seconds(1)).size(), 1u);
  // The record keeps microseconds, and all of the above may take less than
  // one: wait for the clock to pass the first start.
  while (std::chrono::time_point_cast<std::chrono::microseconds>(proxy::WallClock::now()) <= first_start) {
  }
  session->RestartQueryClock();
  const auto second_start = session->query_start();
  ASSERT_NE(second_start, first_start) << "the clock has microseconds; the restart must move it";
  const auto due = Plan({session}, second_start + seconds(1));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].action, LimitAction::kCancel) << "a new query, so a new cancel, no terminate";
  EXPECT_EQ(due[0].query_start, second_start);
}

TEST_F(LimitPlannerTest, IdleInTransactionIsClosedOnceCountingFromWhenItWentIdle) {
  ConfigLimit("app", Limit::kIdleInTransactionTimeout, seconds(5));
  auto idle = Session(SessionState::kIdleInTransaction);
  auto failed = Session(SessionState::kIdleInFailedTransaction);
  const auto since = std::max(idle->state_stamp().since, failed->state_stamp().since);
  const Records sessions = {idle, failed};

  EXPECT_TRUE(Plan(sessions, since + milliseconds(4999)).empty());
  const auto due = Plan(sessions, since + seconds(5));
  ASSERT_EQ(due.size(), 2u);
  for (const DueAction& action : due) {
    EXPECT_EQ(action.action, LimitAction::kClose);
    EXPECT_EQ(action.limit, Limit::kIdleInTransactionTimeout);
    EXPECT_EQ(action.stamp, action.session->state_stamp()) << "CloseIfStill gets the stretch seen";
  }
  EXPECT_TRUE(Plan(sessions, since + seconds(6)).empty()) << "asked once per idle stretch";

  // A new stretch of idleness (the client ran one more statement, which
  // CloseIfStill let pass) starts over.
  idle->SetState(SessionState::kActive);
  idle->SetState(SessionState::kIdleInTransaction);
  const auto new_since = idle->state_stamp().since;
  EXPECT_TRUE(Plan({idle}, new_since + seconds(1)).empty());
  const auto again = Plan({idle}, new_since + seconds(5));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].session, idle);
  EXPECT_EQ(again[0].stamp.since, new_since);
}

TEST_F(LimitPlannerTest, ClientIdleClosesIdleSessionsAndLeavesActiveOnesAlone) {
  ConfigLimit("app", Limit::kClientIdleTimeout, seconds(2));
  auto idle = Session(SessionState::kIdle);
  auto active = Session(SessionState::kActive);
  auto in_transaction = Session(SessionState::kIdleInTransaction);
  const auto later = proxy::WallClock::now() + seconds(60);
  const auto due = Plan({idle, active, in_transaction}, later);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].session, idle);
  EXPECT_EQ(due[0].action, LimitAction::kClose);
  EXPECT_EQ(due[0].limit, Limit::kClientIdleTimeout);
}

TEST_F(LimitPlannerTest, StartingAndHeldSessionsAreNeverActedOn) {
  for (Limit limit : config::kAllLimits) ConfigLimit("*", limit, milliseconds(1));
  auto starting = Session(SessionState::kStarting);
  auto held = Session(SessionState::kHeld);
  EXPECT_TRUE(Plan({starting, held}, proxy::WallClock::now() + seconds(3600)).empty());
}

TEST_F(LimitPlannerTest, ExceptedUsersAreSpared) {
  ConfigLimit("*", Limit::kClientIdleTimeout, seconds(1), {"replicator", "Backup"});
  auto replicator = Session(SessionState::kIdle, "app", "replicator");
  auto backup = Session(SessionState::kIdle, "app", "backup");  // not "Backup"
  auto other = Session(SessionState::kIdle, "app", "alice");
  const auto due = Plan({replicator, backup, other}, proxy::WallClock::now() + seconds(60));
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].session, backup) << "user names compare exactly";
  EXPECT_EQ(due[1].session, other);
}

TEST_F(LimitPlannerTest, ADatabaseTurnsAStarLimitOffWithZero) {
  ConfigLimit("*", Limit::kClientIdleTimeout, seconds(1));
  ConfigLimit("app", Limit::kClientIdleTimeout, milliseconds(0));
  auto on_app = Session(SessionState::kIdle, "app");
  auto elsewhere = Session(SessionState::kIdle, "reports");
  const auto due = Plan({on_app, elsewhere}, proxy::WallClock::now() + seconds(60));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].session, elsewhere);
  EXPECT_EQ(due[0].set_on, "*");
}

TEST_F(LimitPlannerTest, ItForgetsSessionsThatWentAwayOrMovedOn) {
  ConfigLimit("app", Limit::kQueryTimeout, seconds(1));
  ConfigLimit("app", Limit::kClientIdleTimeout, seconds(1));
  auto running = Session(SessionState::kActive);
  auto idle = Session(SessionState::kIdle);
  const auto later = proxy::WallClock::now() + seconds(60);
  ASSERT_EQ(Plan({running, idle}, later).size(), 2u);
  EXPECT_EQ(planner_.remembered(), 2u);
  EXPECT_TRUE(Plan({running, idle}, later + seconds(1)).empty());
  EXPECT_EQ(planner_.remembered(), 2u) << "still needed: they are still over their limits";
  EXPECT_TRUE(Plan({}, later + seconds(2)).empty());
  EXPECT_EQ(planner_.remembered(), 0u);
}

TEST_F(LimitPlannerTest, NothingIsDueWithoutLimits) {
  auto running = Session(SessionState::kActive);
  LimitResolver resolver(config_, runtime_);
  EXPECT_FALSE(resolver.AnyEnforced());
  EXPECT_TRUE(Plan({running}, proxy::WallClock::now() + seconds(3600)).empty());
  ConfigLimit("app", Limit::kQueryTimeoutGrace, seconds(1));
  EXPECT_FALSE(LimitResolver(config_, runtime_).AnyEnforced()) << "a grace alone acts on nothing";
  runtime_.Set("*", Limit::kQueryTimeout, {milliseconds(0)});
  EXPECT_FALSE(LimitResolver(config_, runtime_).AnyEnforced()) << "0 is off";
  runtime_.Set("other", Limit::kQueryTimeout, {seconds(5)});
  EXPECT_TRUE(LimitResolver(config_, runtime_).AnyEnforced());
}

}  // namespace
}  // namespace pgvalve::admin
