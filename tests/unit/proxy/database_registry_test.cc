// Per-database state is bounded by what is live or what an operator set:
// the names clients send before authenticating do not stay behind.

#include "proxy/database_registry.h"

#include <gtest/gtest.h>

#include <string>

namespace pgvalve::proxy {
namespace {

TEST(DatabaseRegistry, GateOfAFinishedSessionIsDropped) {
  DatabaseRegistry registry;
  for (int i = 0; i < 1000; ++i) {
    auto gate = registry.Gate("random_" + std::to_string(i));
    registry.Release(gate);
    EXPECT_EQ(gate, nullptr);
  }
  EXPECT_EQ(registry.size(), 0u);
}

TEST(DatabaseRegistry, GateStaysWhileAnotherSessionHoldsIt) {
  DatabaseRegistry registry;
  auto first = registry.Gate("app");
  auto second = registry.Gate("app");
  EXPECT_EQ(first, second);
  registry.Release(first);
  EXPECT_EQ(registry.size(), 1u);
  EXPECT_EQ(registry.Gate("app"), second) << "a live session and a new one share one gate";
  registry.Release(second);
  EXPECT_EQ(registry.size(), 0u);
}

TEST(DatabaseRegistry, GateWithOperatorStateStays) {
  DatabaseRegistry registry;
  auto disabled = registry.Gate("disabled_db");
  disabled->Disable(DisableState{.reason = "maintenance"});
  auto paused = registry.Gate("paused_db");
  paused->Pause(StateOrigin::kAdminCommand);
  registry.Release(disabled);
  registry.Release(paused);
  ASSERT_EQ(registry.size(), 2u);
  EXPECT_TRUE(registry.Gate("disabled_db")->RefusalFor("alice").has_value());
  EXPECT_TRUE(registry.Gate("paused_db")->paused());

  // Back at the defaults, the next release drops it.
  auto enabled = registry.Gate("disabled_db");
  enabled->Enable();
  registry.Release(enabled);
  EXPECT_EQ(registry.size(), 1u);
}

TEST(DatabaseRegistry, WatchedGateStays) {
  DatabaseRegistry registry;
  auto gate = registry.Gate("app");
  const auto ticket = gate->Watch([] {});
  DatabaseGate* raw = gate.get();
  registry.Release(gate);
  EXPECT_EQ(registry.size(), 1u);
  raw->Unwatch(ticket);
}

}  // namespace
}  // namespace pgvalve::proxy
