#include "admin/http/metrics_page.h"

#include <map>
#include <memory>
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
              "cancel requests from clients: forwarded to a backend, or dropped (no session has that key)");
  text.Sample("pgvalve_cancel_requests_total", {{"outcome", "forwarded"}}, events.cancels_matched);
  text.Sample("pgvalve_cancel_requests_total", {{"outcome", "dropped"}}, events.cancels_unmatched);

  text.Family("pgvalve_upstream_connect_seconds", MetricType::kHistogram,
              "time to open a session's connection to its upstream (TLS included), successful ones");
  for (const auto& [upstream, connects] : events.upstream_connects) {
    for (size_t i = 0; i < proxy::kConnectSecondsBuckets.size(); ++i) {
      const std::string bound = FormatSampleValue(proxy::kConnectSecondsBuckets[i]);
      text.Sample("pgvalve_upstream_connect_seconds_bucket", {{"upstream", upstream}, {"le", bound}},
                  connects.buckets[i]);
    }
    text.Sample("pgvalve_upstream_connect_seconds_bucket", {{"upstream", upstream}, {"le", "+Inf"}},
                connects.buckets.back());
    text.Sample("pgvalve_upstream_connect_seconds_sum", {{"upstream", upstream}}, connects.seconds);
    text.Sample("pgvalve_upstream_connect_seconds_count", {{"upstream", upstream}}, connects.count);
  }
  text.Family("pgvalve_upstream_connect_failures_total", MetricType::kCounter,
              "session connections to an upstream that failed (refused, timed out, TLS failed)");
  for (const auto& [upstream, connects] : events.upstream_connects) {
    text.Sample("pgvalve_upstream_connect_failures_total", {{"upstream", upstream}}, connects.failures);
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
  AddEvents(text, sources.events.Read());
  AddProcess(text, sources.worker_threads, process);
  return text.Take();
}

}  // namespace pgvalve::admin
