// DatabaseGate: what DISABLE and PAUSE do to one database, seen from the
// sessions (admission, holding, waking) and from the admin side (watchers).

#include "proxy/database_gate.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pgvalve::proxy {
namespace {

TEST(DatabaseGate, DisableRefusesAllButTheExceptedRoles) {
  DatabaseGate gate("app");
  EXPECT_EQ(gate.RefusalFor("alice"), std::nullopt);
  gate.Disable(DisableState{.reason = "moving to green", .except_roles = {"migrator"}});
  EXPECT_EQ(gate.RefusalFor("alice"), "moving to green");
  EXPECT_EQ(gate.RefusalFor("migrator"), std::nullopt);
  EXPECT_EQ(gate.RefusalFor("Migrator"), "moving to green") << "role names are case-sensitive";
  EXPECT_FALSE(gate.AtDefault());
  gate.Enable();
  EXPECT_EQ(gate.RefusalFor("alice"), std::nullopt);
  EXPECT_TRUE(gate.AtDefault());
}

TEST(DatabaseGate, ResumeWakesHoldersInArrivalOrderOnTheirExecutors) {
  asio::io_context context;
  DatabaseGate gate("app");
  EXPECT_EQ(gate.StartHolding(context.get_executor(), [] {}), std::nullopt)
      << "nobody waits on a gate that is not paused";

  gate.Pause(StateOrigin::kAdminCommand);
  std::vector<int> woken;
  std::vector<DatabaseGate::HoldTicket> tickets;
  for (int i = 0; i < 3; ++i) {
    auto ticket = gate.StartHolding(context.get_executor(), [&woken, i] { woken.push_back(i); });
    ASSERT_TRUE(ticket.has_value());
    tickets.push_back(*ticket);
  }
  gate.StopHolding(tickets[1]);  // gave up by itself (hold_timeout, client gone)
  EXPECT_EQ(gate.Snapshot().held, 2u);
  EXPECT_FALSE(gate.AtDefault());

  gate.Resume();
  EXPECT_TRUE(woken.empty()) << "wakes are posted, not called under the gate's mutex";
  context.run();
  EXPECT_EQ(woken, (std::vector<int>{0, 2}));
  EXPECT_FALSE(gate.paused());
  EXPECT_EQ(gate.Snapshot().held, 0u);
  EXPECT_TRUE(gate.AtDefault());
}

TEST(DatabaseGate, WatchersHearEveryChangeUntilTheyLeave) {
  DatabaseGate gate("app");
  EXPECT_FALSE(gate.watched());
  int first = 0;
  int second = 0;
  const auto first_ticket = gate.Watch([&first] { ++first; });
  const auto second_ticket = gate.Watch([&second] { ++second; });
  EXPECT_TRUE(gate.watched());
  gate.NotifyWatchers();
  gate.Unwatch(first_ticket);
  gate.NotifyWatchers();
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 2);
  EXPECT_TRUE(gate.watched());
  gate.Unwatch(second_ticket);
  EXPECT_FALSE(gate.watched());
  EXPECT_TRUE(gate.AtDefault());
}

TEST(DatabaseGate, SnapshotSaysWhereTheStateCameFrom) {
  DatabaseGate gate("app");
  gate.Pause(StateOrigin::kStateFile);
  gate.Disable(DisableState{.reason = "r", .origin = StateOrigin::kStateFile});
  const DatabaseGateSnapshot snapshot = gate.Snapshot();
  EXPECT_EQ(snapshot.name, "app");
  EXPECT_TRUE(snapshot.paused);
  EXPECT_EQ(snapshot.pause_origin, StateOrigin::kStateFile);
  ASSERT_TRUE(snapshot.disabled.has_value());
  EXPECT_EQ(snapshot.disabled->origin, StateOrigin::kStateFile);
  gate.Resume();
  EXPECT_EQ(gate.Snapshot().pause_origin, StateOrigin::kDefault);
}

}  // namespace
}  // namespace pgvalve::proxy
