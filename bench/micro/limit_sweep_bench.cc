// The CPU cost of one sweep of the limits over 10,000 sessions: what
// LimitEnforcer does once a second on the control thread, minus carrying
// actions out. The sessions are real SessionRecords in mixed states on 20
// databases, with limits set on "*" (query_timeout with an exception
// list, client_idle_timeout), on one database of its own
// (idle_in_transaction_timeout) and at runtime on another.
//
// BM_LimitSweepPlan/due: resolving the limits and planning over a list of
// records; `due` sessions (in a database with a 1 ms client_idle_timeout)
// have an action due, the rest do not. BM_LimitSweepFromRegistry adds what
// the enforcer does first: copying the session list out of the registry
// (SessionRegistry::CollectUnordered); BM_LimitSweepFromSortedList does the
// same with the sorted All(), to show what skipping the sort saves. The
// "per_session" counter is the time of one sweep divided by the sessions
// it looked at.

#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "admin/limits/effective_limits.h"
#include "admin/limits/limit_planner.h"
#include "admin/limits/runtime_limits.h"
#include "config/config.h"
#include "proxy/session_registry.h"

namespace pgvalve::bench {
namespace {

using config::Limit;
using proxy::SessionRecord;
using proxy::SessionState;
using std::chrono::milliseconds;
using std::chrono::minutes;

constexpr size_t kSessions = 10'000;
constexpr size_t kDatabases = 20;
constexpr std::string_view kHotDatabase = "hot";

struct SweepScene {
  config::Config config;
  admin::RuntimeLimits runtime;
  std::vector<std::shared_ptr<SessionRecord>> sessions;
  proxy::SessionRegistry registry;
};

// A state mix like a busy OLTP service's: most sessions idle, a fifth
// running, some in a transaction, a few held or still starting.
SessionState StateOf(size_t i) {
  switch (i % 20) {
    case 0: case 1: case 2: case 3: return SessionState::kActive;
    case 4: case 5: return SessionState::kIdleInTransaction;
    case 6: return SessionState::kIdleInFailedTransaction;
    case 7: return SessionState::kHeld;
    case 8: return SessionState::kStarting;
    default: return SessionState::kIdle;
  }
}

std::unique_ptr<SweepScene> MakeScene(size_t due) {
  auto scene = std::make_unique<SweepScene>();
  auto route = [&](const std::string& name) -> config::DatabaseRoute& {
    auto& entry = scene->config.databases[name];
    entry.name = name;
    entry.upstream = "blue";
    return entry;
  };
  route("*").limits.Set(Limit::kQueryTimeout, {minutes(10), {"replicator", "backup", "etl"}});
  route("*").limits.Set(Limit::kClientIdleTimeout, {minutes(60), {}});
  route("db_1").limits.Set(Limit::kIdleInTransactionTimeout, {minutes(5), {}});
  scene->runtime.Set("db_2", Limit::kQueryTimeout, {minutes(2), {}});
  scene->runtime.Set(std::string(kHotDatabase), Limit::kClientIdleTimeout, {milliseconds(1), {}});

  for (size_t i = 0; i < kSessions; ++i) {
    const bool hot = i < due;
    auto record = std::make_shared<SessionRecord>(
        proxy::SessionIdentity{
            .id = i + 1,
            .database = hot ? std::string(kHotDatabase) : "db_" + std::to_string(i % kDatabases),
            .user = "app_user_" + std::to_string(i % 7)},
        "bench", "blue");
    const SessionState state = hot ? SessionState::kIdle : StateOf(i);
    if (state != SessionState::kStarting) {
      record->SetBackend(static_cast<int32_t>(i + 1), std::make_shared<const proxy::BackendKey>(proxy::BackendKey{
                                                        .pid = static_cast<int32_t>(10'000 + i)}));
      record->SetState(state);
    }
    scene->registry.Add(record);
    scene->sessions.push_back(std::move(record));
  }
  return scene;
}

void SetCounters(benchmark::State& state, size_t actions) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kSessions));
  state.counters["per_session"] = benchmark::Counter(
      static_cast<double>(kSessions),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["actions"] = static_cast<double>(actions);
}

void BM_LimitSweepPlan(benchmark::State& state) {
  const size_t due = static_cast<size_t>(state.range(0));
  const std::unique_ptr<SweepScene> scene = MakeScene(due);
  // A second on: past the hot database's 1 ms, far from every other limit.
  const auto now = proxy::WallClock::now() + std::chrono::seconds(1);
  size_t actions = 0;
  for (auto _ : state) {
    // A fresh planner each time: one that remembered the last sweep's
    // decisions would find nothing due after the first iteration.
    admin::LimitPlanner planner;
    admin::LimitResolver limits(scene->config, scene->runtime);
    std::vector<admin::DueAction> plan = planner.Plan(scene->sessions, limits, now);
    actions = plan.size();
    benchmark::DoNotOptimize(plan.data());
  }
  if (actions != due) state.SkipWithError("the planner did not find exactly the due sessions");
  SetCounters(state, actions);
}
BENCHMARK(BM_LimitSweepPlan)->Arg(0)->Arg(10)->Unit(benchmark::kMicrosecond);

void BM_LimitSweepFromRegistry(benchmark::State& state) {
  const std::unique_ptr<SweepScene> scene = MakeScene(0);
  const auto now = proxy::WallClock::now() + std::chrono::seconds(1);
  admin::LimitPlanner planner;
  std::vector<std::shared_ptr<SessionRecord>> sessions;
  size_t actions = 0;
  for (auto _ : state) {
    admin::LimitResolver limits(scene->config, scene->runtime);
    scene->registry.CollectUnordered(sessions);
    actions = planner.Plan(sessions, limits, now).size();
  }
  SetCounters(state, actions);
}
BENCHMARK(BM_LimitSweepFromRegistry)->Unit(benchmark::kMicrosecond);

// What the same walk cost with the registry's sorted list.
void BM_LimitSweepFromSortedList(benchmark::State& state) {
  const std::unique_ptr<SweepScene> scene = MakeScene(0);
  const auto now = proxy::WallClock::now() + std::chrono::seconds(1);
  admin::LimitPlanner planner;
  size_t actions = 0;
  for (auto _ : state) {
    admin::LimitResolver limits(scene->config, scene->runtime);
    const auto sessions = scene->registry.All();
    actions = planner.Plan(sessions, limits, now).size();
  }
  SetCounters(state, actions);
}
BENCHMARK(BM_LimitSweepFromSortedList)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace pgvalve::bench
