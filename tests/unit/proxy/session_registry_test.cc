// SHOW STATS's rows: one per database that sessions authenticated to, and
// one bounded row for everything else; the unordered list the limits'
// sweep walks.

#include "proxy/session_registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace pgvalve::proxy {
namespace {

std::shared_ptr<SessionRecord> AddSession(SessionRegistry& registry, std::string database,
                                          bool authenticated, uint64_t bytes) {
  auto record = std::make_shared<SessionRecord>(
      SessionIdentity{.id = registry.NextSessionId(), .database = std::move(database)}, "", "main");
  if (authenticated) record->SetBackend(1 << 30, std::make_shared<const BackendKey>(BackendKey{.pid = 4242}));
  record->counters().add_bytes_from_client(bytes);
  registry.Add(record);
  return record;
}

TEST(SessionRegistryCounters, UnauthenticatedNamesShareOneRow) {
  SessionRegistry registry;
  for (int i = 0; i < 5000; ++i) {
    auto record = AddSession(registry, "random_" + std::to_string(i), false, 10);
    registry.Remove(record->id());
  }
  const auto counters = registry.CountersByDatabase();
  EXPECT_TRUE(counters.by_name.empty());
  ASSERT_TRUE(counters.has_others);
  EXPECT_EQ(counters.others.bytes_from_client, 50000u);
}

TEST(SessionRegistryCounters, AuthenticatedDatabaseKeepsItsRow) {
  SessionRegistry registry;
  auto app = AddSession(registry, "app", true, 100);
  auto live = AddSession(registry, "live_only", false, 7);
  registry.Remove(app->id());
  // A failed login to a database that has a row adds to that row.
  auto failed = AddSession(registry, "app", false, 5);
  registry.Remove(failed->id());

  const auto counters = registry.CountersByDatabase();
  ASSERT_EQ(counters.by_name.size(), 2u);
  EXPECT_EQ(counters.by_name.at("app").bytes_from_client, 105u);
  EXPECT_EQ(counters.by_name.at("live_only").bytes_from_client, 7u) << "live sessions show";
  EXPECT_FALSE(counters.has_others);

  registry.Remove(live->id());
  EXPECT_EQ(registry.CountersByDatabase().by_name.count("live_only"), 0u);
}

TEST(SessionRegistryCounters, RowsAreBounded) {
  SessionRegistry registry;
  const size_t limit = SessionRegistry::kMaxDatabasesWithCounters;
  for (size_t i = 0; i < limit + 10; ++i) {
    auto record = AddSession(registry, "db_" + std::to_string(i), true, 1);
    registry.Remove(record->id());
  }
  const auto counters = registry.CountersByDatabase();
  EXPECT_EQ(counters.by_name.size(), limit);
  EXPECT_EQ(counters.others.bytes_from_client, 10u);
}

TEST(SessionRegistryCollect, EveryLiveSessionIntoAReusedList) {
  SessionRegistry registry;
  std::vector<uint64_t> live;
  for (int i = 0; i < 10; ++i) {
    auto record = AddSession(registry, "app", true, 0);
    if (i % 3 == 0) {
      registry.Remove(record->id());
    } else {
      live.push_back(record->id());
    }
  }
  std::vector<std::shared_ptr<SessionRecord>> collected(3);  // stale entries are dropped
  registry.CollectUnordered(collected);
  std::vector<uint64_t> ids;
  for (const auto& record : collected) ids.push_back(record->id());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, live);
}

}  // namespace
}  // namespace pgvalve::proxy
