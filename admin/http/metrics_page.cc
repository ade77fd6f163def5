#include "admin/http/metrics_page.h"

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "admin/http/metrics_text.h"

namespace pgvalve::admin {
namespace {

using proxy::CounterValues;
using proxy::SessionState;

void AddCounters(MetricsText& text, const proxy::SessionRegistry::DatabaseCounters& counters) {
  // One family per counter of session_counters.h, a sample per database.
#define PGVALVE_COUNTER_FAMILY(name, description, metric, scale)                        \
  text.Family(metric, MetricType::kCounter, description);                               \
  for (const auto& [database, values] : counters.by_name) {                             \
    text.Sample(metric, {{"database", database}}, static_cast<double>(values.name) * (scale)); \
  }                                                                                     \
  if (counters.has_others) {                                                            \
    text.Sample(metric, {{"database", proxy::kOtherDatabases}},                         \
                static_cast<double>(counters.others.name) * (scale));                   \
  }
  PGVALVE_SESSION_COUNTERS(PGVALVE_COUNTER_FAMILY)
#undef PGVALVE_COUNTER_FAMILY
}

// Sessions by database and state. A database gets a label of its own only
// where SHOW STATS gives it a row: a client names its database before it
// authenticates, and names alone must not make series.
void AddSessions(MetricsText& text, const proxy::SessionRegistry& sessions,
                 const proxy::SessionRegistry::DatabaseCounters& counters) {
  std::vector<std::shared_ptr<proxy::SessionRecord>> records;
  sessions.CollectUnordered(records);
  std::map<std::pair<std::string, SessionState>, uint64_t> counts;
  for (const auto& record : records) {
    const std::string& database = record->identity().database;
    const bool has_row = counters.by_name.contains(database);
    ++counts[{has_row ? database : std::string(proxy::kOtherDatabases), record->state()}];
  }
  text.Family("pgvalve_sessions", MetricType::kGauge, "client sessions by database and state");
  for (const auto& [key, count] : counts) {
    text.Sample("pgvalve_sessions", {{"database", key.first}, {"state", proxy::SessionStateName(key.second)}},
                count);
  }
  text.Family("pgvalve_client_connections", MetricType::kGauge,
              "client connections holding one of proxy.max_client_connections");
  text.Sample("pgvalve_client_connections", {}, static_cast<uint64_t>(sessions.slots_in_use()));
}

// One histogram's samples: its cumulative buckets (the last is +Inf), sum
// and count, with `label` when there is one.
template <size_t kBounds>
void AddHistogram(MetricsText& text, std::string_view name, std::optional<MetricLabel> label,
                  const std::array<double, kBounds>& bounds, const std::array<uint64_t, kBounds + 1>& cumulative,
                  double sum, uint64_t count) {
  const std::string bucket = std::string(name) + "_bucket";
  const auto sample = [&](std::string_view metric, std::optional<MetricLabel> le, auto value) {
    if (label && le) {
      text.Sample(metric, {*label, *le}, value);
    } else if (label || le) {
      text.Sample(metric, {label ? *label : *le}, value);
    } else {
      text.Sample(metric, {}, value);
    }
  };
  for (size_t i = 0; i < kBounds; ++i) {
    const std::string bound = FormatSampleValue(bounds[i]);
    sample(bucket, MetricLabel{"le", bound}, cumulative[i]);
  }
  sample(bucket, MetricLabel{"le", "+Inf"}, cumulative.back());
  sample(std::string(name) + "_sum", std::nullopt, sum);
  sample(std::string(name) + "_count", std::nullopt, count);
}

constexpr std::array<double, proxy::kTransactionMicrosBuckets.size()> TransactionSecondsBounds() {
  std::array<double, proxy::kTransactionMicrosBuckets.size()> seconds{};
  for (size_t i = 0; i < seconds.size(); ++i) {
    seconds[i] = static_cast<double>(proxy::kTransactionMicrosBuckets[i]) / 1e6;
  }
  return seconds;
}

void AddTransactionLatencies(MetricsText& text, const proxy::TransactionLatencies::Totals& totals) {
  constexpr std::string_view kName = "pgvalve_transaction_duration_seconds";
  constexpr std::array<double, proxy::kTransactionMicrosBuckets.size()> kBounds = TransactionSecondsBounds();
  text.Family(kName, MetricType::kHistogram,
              "transactions by how long they took, from the first request to the ReadyForQuery back to idle");
  const auto add = [&](std::string_view database, const proxy::LatencyCounts& counts) {
    AddHistogram(text, kName, MetricLabel{"database", database}, kBounds, counts.cumulative,
                 static_cast<double>(counts.sum_us) / 1e6, counts.count());
  };
  for (const auto& [database, counts] : totals.by_database) add(database, counts);
  if (totals.has_others) add(proxy::kOtherDatabases, totals.others);
}

// Databases an operator paused or disabled, and what PAUSE holds now. Only
// gates away from their defaults: a gate also exists for whatever name a
// client sent, and names alone must not make series.
void AddDatabaseGates(MetricsText& text, const proxy::DatabaseRegistry& databases) {
  std::vector<proxy::DatabaseGateSnapshot> gates;
  for (const auto& gate : databases.All()) {
    proxy::DatabaseGateSnapshot snapshot = gate->Snapshot();
    if (snapshot.paused || snapshot.disabled || snapshot.held > 0) gates.push_back(std::move(snapshot));
  }
  text.Family("pgvalve_held_requests", MetricType::kGauge,
              "requests and new sessions PAUSE is holding now, by database");
  for (const auto& gate : gates) {
    text.Sample("pgvalve_held_requests", {{"database", gate.name}}, static_cast<uint64_t>(gate.held));
  }
  text.Family("pgvalve_database_paused", MetricType::kGauge, "1 while the database is paused (PAUSE)");
  for (const auto& gate : gates) {
    text.Sample("pgvalve_database_paused", {{"database", gate.name}}, uint64_t{gate.paused ? 1u : 0u});
  }
  text.Family("pgvalve_database_disabled", MetricType::kGauge,
              "1 while the database refuses new sessions (DISABLE)");
  for (const auto& gate : gates) {
    text.Sample("pgvalve_database_disabled", {{"database", gate.name}},
                uint64_t{gate.disabled.has_value() ? 1u : 0u});
  }
}

void AddTerminations(MetricsText& text, const upstream::ControlConnections& control) {
  const std::map<std::string, upstream::TerminationCounts> terminations = control.Terminations();
  text.Family("pgvalve_terminations_sent_total", MetricType::kCounter,
              "pg_terminate_backend calls pgvalve made on the upstream (TERMINATE, DRAIN, CUTOVER, limits)");
  for (const auto& [upstream, counts] : terminations) {
    text.Sample("pgvalve_terminations_sent_total", {{"upstream", upstream}}, counts.sent);
  }
  text.Family("pgvalve_terminations_confirmed_total", MetricType::kCounter,
              "pg_terminate_backend calls the upstream confirmed (it signalled the backend)");
  for (const auto& [upstream, counts] : terminations) {
    text.Sample("pgvalve_terminations_confirmed_total", {{"upstream", upstream}}, counts.confirmed);
  }
}

// Running jobs only: a finished one is in SHOW DRAINS and SHOW CUTOVERS.
void AddDrains(MetricsText& text, const DrainRegistry& drains) {
  text.Family("pgvalve_drain_phase", MetricType::kGauge, "1 for each running DRAIN, labelled with its phase");
  for (const auto& [id, job] : drains.jobs()) {
    if (!job->running()) continue;
    text.Sample("pgvalve_drain_phase", {{"database", job->options().database}, {"phase", PhaseName(job->phase())}},
                uint64_t{1});
  }
  text.Family("pgvalve_drain_sessions_remaining", MetricType::kGauge,
              "sessions and backends a running DRAIN still waits for");
  for (const auto& [id, job] : drains.jobs()) {
    if (!job->running()) continue;
    text.Sample("pgvalve_drain_sessions_remaining", {{"database", job->options().database}},
                static_cast<uint64_t>(job->BackendsLeft()));
  }
}

void AddCutovers(MetricsText& text, const CutoverRegistry& cutovers, const proxy::SessionRegistry& sessions) {
  std::vector<std::shared_ptr<CutoverJob>> running;
  for (const auto& [id, job] : cutovers.jobs()) {
    if (job->running()) running.push_back(job);
  }
  text.Family("pgvalve_cutover_step", MetricType::kGauge, "1 for each running CUTOVER, labelled with its step");
  for (const auto& job : running) {
    text.Sample("pgvalve_cutover_step",
                {{"database", job->options().database}, {"step", CutoverStepName(job->step())}}, uint64_t{1});
  }
  text.Family("pgvalve_cutover_sessions_remaining", MetricType::kGauge,
              "sessions of a database a running CUTOVER moves that are still on its source");
  if (running.empty()) return;
  std::vector<std::shared_ptr<proxy::SessionRecord>> records;
  sessions.CollectUnordered(records);
  for (const auto& job : running) {
    uint64_t on_source = 0;
    for (const auto& record : records) {
      if (record->identity().database == job->options().database && record->upstream() == job->source()) {
        ++on_source;
      }
    }
    text.Sample("pgvalve_cutover_sessions_remaining", {{"database", job->options().database}}, on_source);
  }
}

// What the limits did, under the database their setting names ("*" for
// the default's), as SHOW LIMITS counts it.
void AddLimitActions(MetricsText& text, const LimitCounters& counters) {
  text.Family("pgvalve_limit_actions_total", MetricType::kCounter,
              "what the limits did (cancel, terminate, close), by the database their setting names and limit");
  counters.ForEach([&](std::string_view set_on, config::Limit limit, LimitAction action, uint64_t count) {
    text.Sample("pgvalve_limit_actions_total",
                {{"database", set_on}, {"limit", config::LimitName(limit)}, {"action", LimitActionName(action)}},
                count);
  });
}

void AddEvents(MetricsText& text, const proxy::ProxyEvents::Snapshot& events) {
  text.Family("pgvalve_sessions_refused_total", MetricType::kCounter,
              "client connections refused before their session started, by reason");
  for (size_t i = 0; i < proxy::kRefusalCount; ++i) {
    text.Sample("pgvalve_sessions_refused_total", {{"reason", proxy::RefusalName(static_cast<proxy::Refusal>(i))}},
                events.refusals[i]);
  }
  text.Family("pgvalve_errors_sent_total", MetricType::kCounter,
              "ErrorResponses pgvalve itself sent to clients, by SQLSTATE");
  for (const auto& [sqlstate, count] : events.errors_sent) {
    text.Sample("pgvalve_errors_sent_total", {{"sqlstate", sqlstate}}, count);
  }
  text.Family("pgvalve_cancel_requests_total", MetricType::kCounter,
              "cancel requests from clients: forwarded to a backend, routed to the fleet instance that holds "
              "the session, or dropped (no session has that key)");
  text.Sample("pgvalve_cancel_requests_total", {{"outcome", "forwarded"}}, events.cancels_matched);
  text.Sample("pgvalve_cancel_requests_total", {{"outcome", "routed"}}, events.cancels_routed);
  text.Sample("pgvalve_cancel_requests_total", {{"outcome", "dropped"}}, events.cancels_unmatched);

  text.Family("pgvalve_upstream_connect_seconds", MetricType::kHistogram,
              "time to open a session's connection to its upstream (TLS included), successful ones");
  for (const auto& [upstream, connects] : events.upstream_connects) {
    const auto& latency = connects.latency;
    AddHistogram(text, "pgvalve_upstream_connect_seconds", MetricLabel{"upstream", upstream},
                 proxy::kConnectSecondsBuckets, latency.buckets, latency.seconds, latency.count);
  }
  text.Family("pgvalve_upstream_connect_failures_total", MetricType::kCounter,
              "session connections to an upstream that failed (refused, timed out, TLS failed)");
  for (const auto& [upstream, connects] : events.upstream_connects) {
    text.Sample("pgvalve_upstream_connect_failures_total", {{"upstream", upstream}}, connects.failures);
  }

  text.Family("pgvalve_hold_duration_seconds", MetricType::kHistogram,
              "how long PAUSE held a request or a new session, until RESUME, hold_timeout or its client left");
  for (const auto& [kind, held] : {std::pair{"request", &events.held_requests},
                                   std::pair{"new_session", &events.held_new_sessions}}) {
    AddHistogram(text, "pgvalve_hold_duration_seconds", MetricLabel{"kind", kind}, proxy::kHoldSecondsBuckets,
                 held->buckets, held->seconds, held->count);
  }
}

void AddProcess(MetricsText& text, size_t worker_threads, const ProcessStats& process) {
  text.Family("pgvalve_worker_threads", MetricType::kGauge, "threads relaying sessions");
  text.Sample("pgvalve_worker_threads", {}, static_cast<uint64_t>(worker_threads));
  // The names Prometheus's own client libraries use for these.
  if (process.resident_bytes) {
    text.Family("process_resident_memory_bytes", MetricType::kGauge, "resident memory size in bytes");
    text.Sample("process_resident_memory_bytes", {}, *process.resident_bytes);
  }
  if (process.open_fds) {
    text.Family("process_open_fds", MetricType::kGauge, "number of open file descriptors");
    text.Sample("process_open_fds", {}, *process.open_fds);
  }
}

}  // namespace

std::string RenderMetrics(const MetricsSources& sources, const ProcessStats& process) {
  const proxy::SessionRegistry::DatabaseCounters counters = sources.sessions.CountersByDatabase();
  MetricsText text;
  AddCounters(text, counters);
  AddSessions(text, sources.sessions, counters);
  AddTransactionLatencies(text, sources.events.transaction_latencies().Read());
  AddEvents(text, sources.events.Read());
  if (sources.databases) AddDatabaseGates(text, *sources.databases);
  if (sources.control) AddTerminations(text, *sources.control);
  if (sources.drains) AddDrains(text, *sources.drains);
  if (sources.cutovers) AddCutovers(text, *sources.cutovers, sources.sessions);
  if (sources.limit_counters) AddLimitActions(text, *sources.limit_counters);
  AddProcess(text, sources.worker_threads, process);
  return text.Take();
}

}  // namespace pgvalve::admin
