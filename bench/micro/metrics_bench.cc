// What the metrics cost. BM_TransactionBookkeeping: what a session's record
// does at the start and end of each transaction (SessionRecord::SetState,
// active then idle), without (0) and with (1) a transaction latency
// histogram: the relay's per-transaction price of the histogram, measured
// in the same run. BM_RenderMetrics: one GET /metrics page at 10,000
// sessions in mixed states on 20 databases, each with its histogram and
// counters: the scrape's CPU, at a session count one process cannot hold on
// a machine whose descriptor limit is 20,000 (two per session).

#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "admin/http/metrics_page.h"
#include "proxy/proxy_events.h"
#include "proxy/session_registry.h"

namespace pgvalve::bench {
namespace {

using proxy::SessionRecord;
using proxy::SessionState;

void BM_TransactionBookkeeping(benchmark::State& state) {
  proxy::TransactionLatencies latencies(10);
  SessionRecord record(proxy::SessionIdentity{.id = 1, .database = "app", .user = "alice"}, "bench", "blue");
  if (state.range(0) != 0) record.SetTransactionLatency(latencies.ForThisThread("app"));
  record.SetState(SessionState::kIdle);
  for (auto _ : state) {
    record.SetState(SessionState::kActive);
    record.SetState(SessionState::kIdle);
  }
  state.SetItemsProcessed(state.iterations());
  const uint64_t counted = latencies.Read().by_database["app"].count();
  if (state.range(0) != 0 && counted != record.counters().transactions()) {
    state.SkipWithError("the histogram missed transactions");
  }
}
BENCHMARK(BM_TransactionBookkeeping)->Arg(0)->Arg(1);

constexpr size_t kSessions = 10'000;
constexpr size_t kDatabases = 20;

SessionState StateOf(size_t i) {
  switch (i % 20) {
    case 0: case 1: case 2: case 3: return SessionState::kActive;
    case 4: case 5: return SessionState::kIdleInTransaction;
    case 6: return SessionState::kHeld;
    default: return SessionState::kIdle;
  }
}

void BM_RenderMetrics(benchmark::State& state) {
  proxy::SessionRegistry registry;
  proxy::ProxyEvents events;
  std::vector<std::shared_ptr<SessionRecord>> records;
  for (size_t i = 0; i < kSessions; ++i) {
    const std::string database = "db_" + std::to_string(i % kDatabases);
    auto record = std::make_shared<SessionRecord>(
        proxy::SessionIdentity{.id = i + 1, .database = database, .user = "app_user_" + std::to_string(i % 7)},
        "bench", "blue");
    record->SetBackend(static_cast<int32_t>(i + 1), std::make_shared<const proxy::BackendKey>(proxy::BackendKey{
                                                      .pid = static_cast<int32_t>(10'000 + i)}));
    record->SetTransactionLatency(events.transaction_latencies().ForThisThread(database));
    // A transaction each, so that every histogram and counter has values.
    record->SetState(SessionState::kActive);
    record->SetState(SessionState::kIdle);
    record->SetState(StateOf(i));
    registry.Add(record);
    records.push_back(std::move(record));
  }
  size_t bytes = 0;
  for (auto _ : state) {
    const std::string page =
        admin::RenderMetrics({.sessions = registry, .events = events, .worker_threads = 2}, {});
    bytes = page.size();
    benchmark::DoNotOptimize(page.data());
  }
  state.counters["page_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_RenderMetrics)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pgvalve::bench
