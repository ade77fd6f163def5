// Prometheus's text exposition format as pgvalve writes it, and the page
// /metrics serves, built from a session registry.
#include "admin/http/metrics_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <chrono>
#include <memory>
#include <string>

#include "admin/http/metrics_page.h"
#include "proxy/database_registry.h"
#include "proxy/session_registry.h"

namespace pgvalve::admin {
namespace {

TEST(MetricsTextTest, WritesHelpAndTypeBeforeTheSamples) {
  MetricsText text;
  text.Family("pgvalve_queries_total", MetricType::kCounter, "client requests");
  text.Sample("pgvalve_queries_total", {{"database", "app"}}, uint64_t{42});
  text.Family("pgvalve_worker_threads", MetricType::kGauge, "threads");
  text.Sample("pgvalve_worker_threads", {}, uint64_t{2});
  EXPECT_EQ(text.text(),
            "# HELP pgvalve_queries_total client requests\n"
            "# TYPE pgvalve_queries_total counter\n"
            "pgvalve_queries_total{database=\"app\"} 42\n"
            "# HELP pgvalve_worker_threads threads\n"
            "# TYPE pgvalve_worker_threads gauge\n"
            "pgvalve_worker_threads 2\n");
}

TEST(MetricsTextTest, EscapesLabelValuesAClientChose) {
  // Database names come from clients: quotes, backslashes and line feeds
  // must not end the value or the line.
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(EscapeLabelValue("caf\xc3\xa9 {x=1}"), "caf\xc3\xa9 {x=1}");
  MetricsText text;
  text.Sample("m", {{"database", "x\"} 1\nevil 2"}, {"state", "idle"}}, uint64_t{1});
  EXPECT_EQ(text.text(), "m{database=\"x\\\"} 1\\nevil 2\",state=\"idle\"} 1\n");
}

TEST(MetricsTextTest, EscapesHelpText) {
  EXPECT_EQ(EscapeHelp("a\\b\nc \"d\""), "a\\\\b\\nc \"d\"");
}

TEST(MetricsTextTest, FormatsValuesAsPrometheusReadsThem) {
  EXPECT_EQ(FormatSampleValue(0.25), "0.25");
  EXPECT_EQ(FormatSampleValue(3.0), "3");
  EXPECT_EQ(FormatSampleValue(1e-6), "1e-06");
  EXPECT_EQ(FormatSampleValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatSampleValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatSampleValue(std::nan("")), "NaN");
}

std::shared_ptr<proxy::SessionRecord> AddSession(proxy::SessionRegistry& registry, std::string database,
                                                 proxy::SessionState state) {
  auto record = std::make_shared<proxy::SessionRecord>(
      proxy::SessionIdentity{.id = registry.NextSessionId(), .database = std::move(database)}, "", "main");
  record->SetState(state);
  registry.Add(record);
  return record;
}

TEST(MetricsPageTest, CountsSessionsByDatabaseAndStateInShowClientsWords) {
  proxy::SessionRegistry registry;
  proxy::ProxyEvents events;
  AddSession(registry, "app", proxy::SessionState::kIdle);
  AddSession(registry, "app", proxy::SessionState::kIdle);
  AddSession(registry, "app", proxy::SessionState::kIdleInTransaction);
  AddSession(registry, "reports", proxy::SessionState::kActive);
  const std::string page = RenderMetrics({.sessions = registry, .events = events, .worker_threads = 2}, {});
  EXPECT_NE(page.find("pgvalve_sessions{database=\"app\",state=\"idle\"} 2\n"), std::string::npos) << page;
  EXPECT_NE(page.find("pgvalve_sessions{database=\"app\",state=\"idle in transaction\"} 1\n"), std::string::npos);
  EXPECT_NE(page.find("pgvalve_sessions{database=\"reports\",state=\"active\"} 1\n"), std::string::npos);
  EXPECT_EQ(page.find("state=\"held\""), std::string::npos) << "a state no session is in has no series";
  EXPECT_NE(page.find("pgvalve_worker_threads 2\n"), std::string::npos);
}

TEST(MetricsPageTest, ServesTheCountersShowStatsShows) {
  proxy::SessionRegistry registry;
  proxy::ProxyEvents events;
  auto record = AddSession(registry, "app", proxy::SessionState::kIdle);
  // Past authentication: its database keeps a row of its own once it ends.
  record->SetBackend(1 << 30, std::make_shared<const proxy::BackendKey>(proxy::BackendKey{.pid = 4242}));
  record->counters().add_transactions(7);
  record->counters().add_queries(9);
  record->counters().add_bytes_from_client(100);
  record->counters().add_bytes_to_client(2000);
  record->counters().add_transaction_time_us(1'500'000);
  const std::string page = RenderMetrics({.sessions = registry, .events = events, .worker_threads = 1}, {});
  EXPECT_NE(page.find("# TYPE pgvalve_transactions_total counter\n"), std::string::npos) << page;
  EXPECT_NE(page.find("pgvalve_transactions_total{database=\"app\"} 7\n"), std::string::npos);
  EXPECT_NE(page.find("pgvalve_queries_total{database=\"app\"} 9\n"), std::string::npos);
  EXPECT_NE(page.find("pgvalve_client_received_bytes_total{database=\"app\"} 100\n"), std::string::npos);
  EXPECT_NE(page.find("pgvalve_client_sent_bytes_total{database=\"app\"} 2000\n"), std::string::npos);
  EXPECT_NE(page.find("pgvalve_transaction_time_seconds_total{database=\"app\"} 1.5\n"), std::string::npos);
  // Counters survive the session: an ended one's stay under its database.
  registry.Remove(record->id());
  const std::string after = RenderMetrics({.sessions = registry, .events = events, .worker_threads = 1}, {});
  EXPECT_NE(after.find("pgvalve_transactions_total{database=\"app\"} 7\n"), std::string::npos) << after;
  EXPECT_EQ(after.find("pgvalve_sessions{"), std::string::npos);
}

TEST(MetricsPageTest, ProcessFiguresUseTheStandardNamesWhenKnown) {
  proxy::SessionRegistry registry;
  proxy::ProxyEvents events;
  const std::string page =
      RenderMetrics({.sessions = registry, .events = events, .worker_threads = 1},
                    {.resident_bytes = 4096, .open_fds = 12});
  EXPECT_NE(page.find("process_resident_memory_bytes 4096\n"), std::string::npos) << page;
  EXPECT_NE(page.find("process_open_fds 12\n"), std::string::npos);
  const std::string unknown = RenderMetrics({.sessions = registry, .events = events, .worker_threads = 1}, {});
  EXPECT_EQ(unknown.find("process_open_fds"), std::string::npos) << "no sample rather than a wrong one";
}

TEST(MetricsPageTest, RefusalsErrorsCancelsAndUpstreamConnects) {
  proxy::SessionRegistry registry;
  proxy::ProxyEvents events;
  events.Refused(proxy::Refusal::kDisabled);
  events.Refused(proxy::Refusal::kDisabled);
  events.ErrorSent("55000");
  events.ErrorSent("55000");
  events.ErrorSent("57P01");
  events.ErrorSent("not a sqlstate");
  events.CancelRequest(true);
  events.CancelRequest(false);
  events.UpstreamConnected("blue", std::chrono::microseconds(800));
  events.UpstreamConnected("blue", std::chrono::milliseconds(30));
  events.UpstreamConnectFailed("green");
  const std::string page = RenderMetrics({.sessions = registry, .events = events, .worker_threads = 1}, {});
  const auto has = [&page](std::string_view line) { return page.find(line) != std::string::npos; };
  EXPECT_TRUE(has("pgvalve_sessions_refused_total{reason=\"disabled\"} 2\n")) << page;
  EXPECT_TRUE(has("pgvalve_sessions_refused_total{reason=\"access_rule\"} 0\n")) << "every reason, zeros too";
  EXPECT_TRUE(has("pgvalve_errors_sent_total{sqlstate=\"55000\"} 2\n"));
  EXPECT_TRUE(has("pgvalve_errors_sent_total{sqlstate=\"57P01\"} 1\n"));
  EXPECT_TRUE(has("pgvalve_errors_sent_total{sqlstate=\"?????\"} 1\n")) << "no text grows the label set";
  EXPECT_TRUE(has("pgvalve_cancel_requests_total{outcome=\"forwarded\"} 1\n"));
  EXPECT_TRUE(has("pgvalve_cancel_requests_total{outcome=\"dropped\"} 1\n"));
  EXPECT_TRUE(has("# TYPE pgvalve_upstream_connect_seconds histogram\n"));
  // Cumulative buckets: 0.8 ms is under 1 ms, 30 ms under 50 ms.
  EXPECT_TRUE(has("pgvalve_upstream_connect_seconds_bucket{upstream=\"blue\",le=\"0.0005\"} 0\n"));
  EXPECT_TRUE(has("pgvalve_upstream_connect_seconds_bucket{upstream=\"blue\",le=\"0.001\"} 1\n"));
  EXPECT_TRUE(has("pgvalve_upstream_connect_seconds_bucket{upstream=\"blue\",le=\"0.025\"} 1\n"));
  EXPECT_TRUE(has("pgvalve_upstream_connect_seconds_bucket{upstream=\"blue\",le=\"0.05\"} 2\n"));
  EXPECT_TRUE(has("pgvalve_upstream_connect_seconds_bucket{upstream=\"blue\",le=\"+Inf\"} 2\n"));
  EXPECT_TRUE(has("pgvalve_upstream_connect_seconds_count{upstream=\"blue\"} 2\n"));
  const std::string sum_prefix = "pgvalve_upstream_connect_seconds_sum{upstream=\"blue\"} ";
  const size_t sum = page.find(sum_prefix);
  ASSERT_NE(sum, std::string::npos);
  EXPECT_NEAR(std::stod(page.substr(sum + sum_prefix.size())), 0.0308, 1e-9);
  EXPECT_TRUE(has("pgvalve_upstream_connect_failures_total{upstream=\"green\"} 1\n"));
  EXPECT_TRUE(has("pgvalve_upstream_connect_seconds_count{upstream=\"green\"} 0\n"));
}

TEST(MetricsPageTest, TransactionLatencyAndHoldTimeHistograms) {
  proxy::SessionRegistry registry;
  proxy::ProxyEvents events;
  proxy::LatencyHistogram& app = events.transaction_latencies().ForThisThread("app");
  app.Add(400);        // 0.4 ms
  app.Add(20'000);     // 20 ms
  app.Add(90'000'000);  // beyond the last bound
  events.HoldEnded(proxy::HoldKind::kRequest, std::chrono::milliseconds(3));
  events.HoldEnded(proxy::HoldKind::kNewSession, std::chrono::seconds(2));
  const std::string page = RenderMetrics({.sessions = registry, .events = events, .worker_threads = 1}, {});
  const auto has = [&page](std::string_view line) { return page.find(line) != std::string::npos; };
  EXPECT_TRUE(has("# TYPE pgvalve_transaction_duration_seconds histogram\n")) << page;
  EXPECT_TRUE(has("pgvalve_transaction_duration_seconds_bucket{database=\"app\",le=\"0.0005\"} 1\n"));
  EXPECT_TRUE(has("pgvalve_transaction_duration_seconds_bucket{database=\"app\",le=\"0.01\"} 1\n"));
  EXPECT_TRUE(has("pgvalve_transaction_duration_seconds_bucket{database=\"app\",le=\"0.025\"} 2\n"));
  EXPECT_TRUE(has("pgvalve_transaction_duration_seconds_bucket{database=\"app\",le=\"60\"} 2\n"));
  EXPECT_TRUE(has("pgvalve_transaction_duration_seconds_bucket{database=\"app\",le=\"+Inf\"} 3\n"));
  EXPECT_TRUE(has("pgvalve_transaction_duration_seconds_sum{database=\"app\"} 90.0204\n"));
  EXPECT_TRUE(has("pgvalve_transaction_duration_seconds_count{database=\"app\"} 3\n"));

  EXPECT_TRUE(has("pgvalve_hold_duration_seconds_bucket{kind=\"request\",le=\"0.001\"} 0\n"));
  EXPECT_TRUE(has("pgvalve_hold_duration_seconds_bucket{kind=\"request\",le=\"0.005\"} 1\n"));
  EXPECT_TRUE(has("pgvalve_hold_duration_seconds_count{kind=\"request\"} 1\n"));
  EXPECT_TRUE(has("pgvalve_hold_duration_seconds_bucket{kind=\"new_session\",le=\"1\"} 0\n"));
  EXPECT_TRUE(has("pgvalve_hold_duration_seconds_bucket{kind=\"new_session\",le=\"2.5\"} 1\n"));
  EXPECT_TRUE(has("pgvalve_hold_duration_seconds_sum{kind=\"new_session\"} 2\n"));
}

TEST(MetricsPageTest, GatesAppearOnlyOnceAnOperatorActedOnThem) {
  proxy::SessionRegistry registry;
  proxy::ProxyEvents events;
  proxy::DatabaseRegistry databases;
  std::shared_ptr<proxy::DatabaseGate> paused = databases.Gate("app");
  paused->Pause(proxy::StateOrigin::kAdminCommand);
  std::shared_ptr<proxy::DatabaseGate> disabled = databases.Gate("old");
  disabled->Disable({.reason = "moved"});
  // A name a client sent: a gate at its defaults.
  std::shared_ptr<proxy::DatabaseGate> untouched = databases.Gate("whatever a client sent");
  const std::string page = RenderMetrics(
      {.sessions = registry, .events = events, .worker_threads = 1, .databases = &databases}, {});
  const auto has = [&page](std::string_view line) { return page.find(line) != std::string::npos; };
  EXPECT_TRUE(has("pgvalve_held_requests{database=\"app\"} 0\n")) << page;
  EXPECT_TRUE(has("pgvalve_database_paused{database=\"app\"} 1\n"));
  EXPECT_TRUE(has("pgvalve_database_disabled{database=\"app\"} 0\n"));
  EXPECT_TRUE(has("pgvalve_database_paused{database=\"old\"} 0\n"));
  EXPECT_TRUE(has("pgvalve_database_disabled{database=\"old\"} 1\n"));
  EXPECT_FALSE(has("whatever a client sent"));
  paused->Resume();
}

TEST(MetricsPageTest, LimitActionsAreCountedAsShowLimitsCountsThem) {
  proxy::SessionRegistry registry;
  proxy::ProxyEvents events;
  LimitCounters counters;
  counters.Add("*", config::Limit::kClientIdleTimeout, LimitAction::kClose);
  counters.Add("*", config::Limit::kClientIdleTimeout, LimitAction::kClose);
  counters.Add("app", config::Limit::kQueryTimeout, LimitAction::kCancel);
  const std::string page = RenderMetrics(
      {.sessions = registry, .events = events, .worker_threads = 1, .limit_counters = &counters}, {});
  const auto has = [&page](std::string_view line) { return page.find(line) != std::string::npos; };
  EXPECT_TRUE(has("# TYPE pgvalve_limit_actions_total counter\n")) << page;
  EXPECT_TRUE(has("pgvalve_limit_actions_total{database=\"*\",limit=\"client_idle_timeout\",action=\"close\"} 2\n"))
      << page;
  EXPECT_TRUE(has("pgvalve_limit_actions_total{database=\"app\",limit=\"query_timeout\",action=\"cancel\"} 1\n"));
  EXPECT_FALSE(has("action=\"terminate\"")) << "only what acted";
}

}  // namespace
}  // namespace pgvalve::admin
