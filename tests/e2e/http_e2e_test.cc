// End-to-end tests of pgvalve's HTTP endpoint ([http] in the config file):
// /healthz, /readyz following the upstream, /metrics behind basic auth, and
// the exposition read by a real Prometheus and by prometheus_client's
// parser. The shared pgvalve routes every database to one PostgreSQL.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "tests/e2e/admin_test_support.h"
#include "tests/support/free_port.h"
#include "tests/support/http_client.h"
#include "tests/support/json_value.h"
#include "tests/support/prometheus_server.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace pgvalve::test {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::Not;
using ::testing::StartsWith;

constexpr milliseconds kHttpListenTimeout{10'000};
// A scrape every second and a probe at most once a second per upstream:
// 30 s leaves room for a slow machine without hiding a feature that
// never gets there.
constexpr milliseconds kScrapeTimeout{30'000};
constexpr milliseconds kReadinessTimeout{30'000};

constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
// RFC 7617 lets the challenge go on with parameters (charset="UTF-8").
constexpr std::string_view kBasicChallenge = "Basic realm=\"pgvalve\"";
// Used only by PrometheusCountsExactlyTheTransactionsRun, so its counters
// start at zero and no other test moves them.
constexpr std::string_view kMetricsDatabase = "metrics_db";

// Fixed for the binary, so a shared pgvalve restarted after a crash serves
// on the same port.
uint16_t SharedHttpPort() {
  static const uint16_t port = FreeTcpPort();
  return port;
}

std::string HttpToml(uint16_t port, bool metrics_auth) {
  return "\n[http]\nlisten = [\"127.0.0.1:" + std::to_string(port) + "\"]\n" +
         "metrics_auth = " + (metrics_auth ? "true" : "false") + "\n";
}

std::string Challenge(const HttpResponse& response) {
  return response.Header("WWW-Authenticate").value_or("<no WWW-Authenticate header>");
}

const BasicCredentials& Monitor() {
  static const BasicCredentials credentials{std::string(kMonitorUser),
                                            std::string(kMonitorPassword)};
  return credentials;
}

// The HTTP listener may open after the ports AdminPgvalve waits for.
::testing::AssertionResult HttpListening(AdminPgvalve& pgvalve, uint16_t port) {
  if (WaitUntil([&] { return CanConnectTcp(port); }, kHttpListenTimeout)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "nothing listens on HTTP port " << port
                                       << "; pgvalve's log:\n" << pgvalve.process().LogTail();
}

// Whether GET `target` answers `status` within `timeout`; `last` keeps the
// last response (or the error) for the failure message.
bool WaitForStatus(uint16_t port, std::string_view target, int status, milliseconds timeout,
                   std::string& last) {
  return WaitUntil(
      [&] {
        try {
          const HttpResponse response = HttpGet(port, target);
          last = response.ToString();
          return response.status == status;
        } catch (const std::runtime_error& error) {
          last = error.what();
          return false;
        }
      },
      timeout);
}

std::string StatsColumn(PGconn* admin, std::string_view database, std::string_view column) {
  const ResultTable stats = QueryTable(admin, "SHOW STATS");
  const std::optional<size_t> row = stats.FindRow("database", database);
  return row ? stats.Text(*row, column) : "<no SHOW STATS row for " + std::string(database) + ">";
}

// Brings the shared PostgreSQL back when a test that stops it ends early,
// so the tests after it still have an upstream.
class PostmasterRestorer {
 public:
  explicit PostmasterRestorer(PgServer& pg) : pg_(pg) {}
  ~PostmasterRestorer() {
    if (!pg_.IsRunning()) pg_.StartPostmaster();
  }
  PostmasterRestorer(const PostmasterRestorer&) = delete;
  PostmasterRestorer& operator=(const PostmasterRestorer&) = delete;

 private:
  PgServer& pg_;
};

class HttpEndpointTest : public AdminConsoleTest {
 protected:
  void SetUp() override {
    AdminConsoleTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(HttpListening(pgvalve(), port()));
  }

  static uint16_t port() { return SharedHttpPort(); }
};

TEST_F(HttpEndpointTest, HealthzAnswersOkWithoutCredentials) {
  const HttpResponse response = HttpGet(port(), "/healthz");
  EXPECT_EQ(response.status, 200) << response.ToString();
  EXPECT_EQ(response.body, "ok\n");
}

TEST_F(HttpEndpointTest, MetricsWithoutCredentialsIsChallenged) {
  const HttpResponse response = HttpGet(port(), "/metrics");
  EXPECT_EQ(response.status, 401) << response.ToString();
  EXPECT_THAT(Challenge(response), StartsWith(kBasicChallenge)) << response.ToString();
  EXPECT_THAT(response.body, Not(HasSubstr("pgvalve_")));
}

TEST_F(HttpEndpointTest, MetricsRefusesWrongCredentials) {
  const BasicCredentials refused[] = {
      {std::string(kMonitorUser), "not-the-password"},
      {"nobody", std::string(kMonitorPassword)},
      // A database role is no admin user, whatever PostgreSQL thinks of it.
      {std::string(kSuperuser), ""},
  };
  for (const BasicCredentials& credentials : refused) {
    const HttpResponse response = HttpGet(port(), "/metrics", credentials);
    EXPECT_EQ(response.status, 401) << credentials.user << ":\n" << response.ToString();
    EXPECT_THAT(Challenge(response), StartsWith(kBasicChallenge)) << credentials.user;
    EXPECT_THAT(response.body, Not(HasSubstr("pgvalve_"))) << credentials.user;
  }
}

TEST_F(HttpEndpointTest, MetricsServesMonitorAndAdminUsers) {
  const HttpResponse monitor = HttpGet(port(), "/metrics", Monitor());
  ASSERT_EQ(monitor.status, 200) << monitor.ToString();
  EXPECT_EQ(monitor.Header("Content-Type"), kMetricsContentType);
  for (const char* family : {"pgvalve_client_connections", "pgvalve_worker_threads",
                             "process_resident_memory_bytes", "process_open_fds"}) {
    EXPECT_THAT(monitor.body, HasSubstr(std::string("\n") + family + " ")) << monitor.body;
  }
  const HttpResponse admin =
      HttpGet(port(), "/metrics", BasicCredentials{std::string(kAdminUser), std::string(kAdminPassword)});
  EXPECT_EQ(admin.status, 200) << admin.ToString();
}

TEST_F(HttpEndpointTest, MetricsAuthOffServesMetricsWithoutCredentials) {
  const uint16_t open_port = FreeTcpPort();
  AdminPgvalveOptions options;
  options.extra_toml = HttpToml(open_port, /*metrics_auth=*/false);
  AdminPgvalve open(pg(), options);
  ASSERT_TRUE(HttpListening(open, open_port));

  const HttpResponse response = HttpGet(open_port, "/metrics");
  EXPECT_EQ(response.status, 200) << response.ToString();
  EXPECT_EQ(response.Header("Content-Type"), kMetricsContentType);
  EXPECT_THAT(response.body, HasSubstr("pgvalve_worker_threads"));
  EXPECT_EQ(open.StopAndCheck(), "");
}

TEST_F(HttpEndpointTest, UnknownPathIsNotFound) {
  EXPECT_EQ(HttpGet(port(), "/no/such/page").status, 404);
  EXPECT_EQ(HttpGet(port(), "/no/such/page", Monitor()).status, 404);
  EXPECT_EQ(HttpGet(port(), "/metricsx", Monitor()).status, 404);
}

TEST_F(HttpEndpointTest, OnlyGetAndHeadAreAllowed) {
  HttpRequest post;
  post.method = "POST";
  post.port = port();
  post.target = "/healthz";
  HttpResponse refused = SendHttpRequest(post);
  EXPECT_EQ(refused.status, 405) << refused.ToString();
  post.target = "/metrics";
  post.credentials = Monitor();
  refused = SendHttpRequest(post);
  EXPECT_EQ(refused.status, 405) << refused.ToString();

  HttpRequest head;
  head.method = "HEAD";
  head.port = port();
  head.target = "/healthz";
  const HttpResponse response = SendHttpRequest(head);
  EXPECT_EQ(response.status, 200) << response.ToString();
  EXPECT_EQ(response.body, "");
}

// What `curl -d x` sends: the method is what is wrong with it, body or not.
TEST_F(HttpEndpointTest, PostWithABodyIsRefusedForItsMethod) {
  HttpRequest post;
  post.method = "POST";
  post.port = port();
  post.target = "/metrics";
  post.credentials = Monitor();
  post.body = "x";
  const HttpResponse refused = SendHttpRequest(post);
  EXPECT_EQ(refused.status, 405) << refused.ToString();
}

TEST_F(HttpEndpointTest, PrometheusCountsExactlyTheTransactionsRun) {
  constexpr int kTransactions = 25;
  EnsureDatabase(kMetricsDatabase);
  PgConn admin = ConnectAdmin();
  // Stays open and idle for the rest of the test.
  PgConn client = ConnectClient(kMetricsDatabase);
  for (int i = 0; i < kTransactions; ++i) ExecOk(client.get(), "SELECT 1");

  PrometheusServer::Options options;
  options.target_port = port();
  options.credentials = Monitor();
  PrometheusServer prometheus(options);

  const std::string database = "database=\"" + std::string(kMetricsDatabase) + "\"";
  const std::string transactions = "pgvalve_transactions_total{" + database + "}";
  const std::string seen =
      prometheus.WaitForValue(transactions, std::to_string(kTransactions), kScrapeTimeout);
  ASSERT_EQ(seen, std::to_string(kTransactions))
      << "up: " << prometheus.QueryOne("up").value_or("<no sample>") << "\nprometheus log:\n"
      << prometheus.LogTail() << "\n/metrics:\n" << HttpGet(port(), "/metrics", Monitor()).body;
  EXPECT_EQ(StatsColumn(admin.get(), kMetricsDatabase, "transactions"), seen);
  // The latency histogram counts the same transactions.
  EXPECT_EQ(prometheus.WaitForValue("pgvalve_transaction_duration_seconds_count{" + database + "}",
                                    seen, kScrapeTimeout),
            seen)
      << HttpGet(port(), "/metrics", Monitor()).body;

  const std::string idle = "pgvalve_sessions{" + database + ",state=\"idle\"}";
  EXPECT_EQ(prometheus.WaitForValue(idle, "1", kScrapeTimeout), "1")
      << HttpGet(port(), "/metrics", Monitor()).body;
  // Only states that have sessions appear.
  const std::vector<PrometheusServer::Sample> sessions =
      prometheus.Query("pgvalve_sessions{" + database + "}");
  ASSERT_EQ(sessions.size(), 1u) << HttpGet(port(), "/metrics", Monitor()).body;
  EXPECT_EQ(sessions[0].labels.at("state"), "idle");
}

TEST_F(HttpEndpointTest, ExpositionParsesWithThePrometheusClientParser) {
  // A session and a transaction, so that the per-database families have
  // samples to parse.
  const std::string db = FreshDatabase();
  PgConn client = ConnectClient(db);
  ExecOk(client.get(), "SELECT 1");
  const HttpResponse response = HttpGet(port(), "/metrics", Monitor());
  ASSERT_EQ(response.status, 200) << response.ToString();

  TempDir dir("pgvalve-exposition");
  const std::string path = dir.path() + "/metrics.txt";
  std::ofstream(path) << response.body;
  // Debian's python3-prometheus-client is installed for /usr/bin/python3,
  // which need not be the python3 first in PATH. The parser drops a
  // counter's _total suffix from the family name.
  const std::string script =
      "import sys\n"
      "from prometheus_client.parser import text_string_to_metric_families as parse\n"
      "for family in parse(open(sys.argv[1]).read()):\n"
      "    print(family.name, family.type)\n";
  const CommandResult parsed = RunCommand({"/usr/bin/python3", "-c", script, path});
  ASSERT_TRUE(parsed.Succeeded()) << DescribeWaitStatus(parsed.wait_status) << "\n"
                                  << parsed.output << "\nexposition:\n" << response.body;
  std::set<std::string> families;
  std::istringstream lines(parsed.output);
  for (std::string line; std::getline(lines, line);) families.insert(line);
  EXPECT_THAT(families, IsSupersetOf({"pgvalve_transactions counter", "pgvalve_sessions gauge",
                                      "pgvalve_queries counter", "pgvalve_client_connections gauge"}))
      << parsed.output;
}

std::optional<std::string> SampleOf(const std::string& page, const std::string& series) {
  return ExpositionSample(page, series);
}

TEST_F(HttpEndpointTest, RefusalsAndPgvalvesOwnErrorsAreCounted) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  ExecOk(admin.get(), "DISABLE " + db + " FORCE");
  const std::string refused = "pgvalve_sessions_refused_total{reason=\"disabled\"}";
  const std::string sent = "pgvalve_errors_sent_total{sqlstate=\"55000\"}";
  const std::string before = HttpGet(port(), "/metrics", Monitor()).body;
  const int refused_before = std::stoi(SampleOf(before, refused).value_or("-1"));
  const int sent_before = std::stoi(SampleOf(before, sent).value_or("0"));
  ASSERT_GE(refused_before, 0) << "every reason has a series:\n" << before;

  EXPECT_EQ(TryConnect(pgvalve().ClientConnString(db)).sqlstate, "55000");
  const std::string after = HttpGet(port(), "/metrics", Monitor()).body;
  EXPECT_EQ(SampleOf(after, refused), std::to_string(refused_before + 1)) << after;
  EXPECT_EQ(SampleOf(after, sent), std::to_string(sent_before + 1)) << after;
  // Every session so far connected to "blue": its histogram has them.
  const std::optional<std::string> connects =
      SampleOf(after, "pgvalve_upstream_connect_seconds_count{upstream=\"blue\"}");
  ASSERT_TRUE(connects) << after;
  EXPECT_GT(std::stoi(*connects), 0);
  EXPECT_EQ(SampleOf(after, "pgvalve_upstream_connect_seconds_bucket{upstream=\"blue\",le=\"+Inf\"}"), connects);
  ExecOk(admin.get(), "ENABLE " + db);
}

std::string MetricsPage(uint16_t port) { return HttpGet(port, "/metrics", Monitor()).body; }

std::string Series(std::string_view family, std::string_view labels) {
  return std::string(family) + "{" + std::string(labels) + "}";
}

std::string DatabaseLabel(const std::string& db) { return "database=\"" + db + "\""; }

TEST_F(HttpEndpointTest, PauseShowsTheHeldRequestAndTimesItsHold) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn client = ConnectClient(db);
  const std::string holds = Series("pgvalve_hold_duration_seconds_count", "kind=\"request\"");
  const std::string held = Series("pgvalve_held_requests", DatabaseLabel(db));
  const int holds_before = std::stoi(SampleOf(MetricsPage(port()), holds).value_or("-1"));
  ASSERT_GE(holds_before, 0) << "the histogram is there before any hold";

  ExecOk(admin.get(), "PAUSE " + db);
  Background<QueryOutcome> request = QueryInBackground(client.get(), "SELECT 1");
  ASSERT_TRUE(WaitUntil([&] { return DatabaseColumn(admin.get(), db, "held") == "1"; }));
  const std::string page = MetricsPage(port());
  EXPECT_EQ(SampleOf(page, held), "1") << page;
  EXPECT_EQ(SampleOf(page, Series("pgvalve_database_paused", DatabaseLabel(db))), "1");
  EXPECT_EQ(SampleOf(page, Series("pgvalve_sessions", DatabaseLabel(db) + ",state=\"held\"")), "1");

  ExecOk(admin.get(), "RESUME " + db);
  ASSERT_TRUE(request.WaitFor(kHangGuard)) << "still held after RESUME";
  EXPECT_TRUE(request.Result().ok()) << request.Result().Describe();
  const std::string after = MetricsPage(port());
  EXPECT_EQ(SampleOf(after, holds), std::to_string(holds_before + 1)) << after;
  EXPECT_EQ(SampleOf(after, held), std::nullopt) << "a resumed database leaves no series";
}

TEST_F(HttpEndpointTest, TerminateIsCountedAsSentAndConfirmed) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn client = ConnectClient(db);
  const std::string id = ClientId(admin.get(), client.get());
  const std::string sent = Series("pgvalve_terminations_sent_total", "upstream=\"blue\"");
  const std::string confirmed = Series("pgvalve_terminations_confirmed_total", "upstream=\"blue\"");
  const std::string before = MetricsPage(port());
  const int sent_before = std::stoi(SampleOf(before, sent).value_or("0"));
  const int confirmed_before = std::stoi(SampleOf(before, confirmed).value_or("0"));

  const ResultTable terminated = QueryTable(admin.get(), "TERMINATE " + id);
  ASSERT_EQ(terminated.size(), 1u) << terminated.ToString();
  const std::string after = MetricsPage(port());
  EXPECT_EQ(SampleOf(after, sent), std::to_string(sent_before + 1)) << after;
  EXPECT_EQ(SampleOf(after, confirmed), std::to_string(confirmed_before + 1)) << after;
}

TEST_F(HttpEndpointTest, ARunningDrainShowsItsPhaseAndWhatIsLeft) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn writer = ConnectClient(db);
  ExecOk(writer.get(), "BEGIN");
  const ResultTable started = QueryTable(admin.get(), "DRAIN " + db + " GRACE '60s' NOWAIT");
  ASSERT_EQ(started.size(), 1u) << started.ToString();
  const std::string job_id = started.Text(0, "job_id");

  const std::string phase = Series("pgvalve_drain_phase", DatabaseLabel(db) + ",phase=\"grace\"");
  const std::string left = Series("pgvalve_drain_sessions_remaining", DatabaseLabel(db));
  std::string page;
  EXPECT_TRUE(WaitUntil([&] {
    page = MetricsPage(port());
    return SampleOf(page, left) == "1";
  })) << "the open transaction keeps the drain waiting:\n"
      << page;
  EXPECT_EQ(SampleOf(page, phase), "1") << page;
  EXPECT_EQ(SampleOf(page, Series("pgvalve_database_disabled", DatabaseLabel(db))), "1");

  ExecOk(admin.get(), "CANCEL DRAIN " + job_id);
  EXPECT_TRUE(WaitUntil([&] {
    page = MetricsPage(port());
    return !SampleOf(page, phase) && !SampleOf(page, left);
  })) << "a cancelled drain is no longer running:\n"
      << page;
  ExecOk(admin.get(), "ENABLE " + db);
}

TEST_F(HttpEndpointTest, JsonViewsShowWhatTheConsoleShows) {
  const std::string db = FreshDatabase();
  PgConn client = ConnectClient(db);
  ExecOk(client.get(), "SELECT 1");
  PgConn admin = ConnectAdmin();
  const std::string id = ClientId(admin.get(), client.get());

  const ResultTable clients = QueryTable(admin.get(), "SHOW CLIENTS");
  const HttpResponse response = HttpGet(port(), "/v1/clients", Monitor());
  ASSERT_EQ(response.status, 200) << response.ToString();
  EXPECT_EQ(response.Header("Content-Type"), "application/json");
  const JsonValue rows = JsonValue::Parse(response.body);
  const JsonValue* mine = nullptr;
  for (const JsonValue& row : rows.AsArray()) {
    if (row.At("id").AsNumberText() == id) mine = &row;
  }
  ASSERT_NE(mine, nullptr) << "session " << id << " missing:\n" << response.body;
  const std::optional<size_t> shown = clients.FindRow("id", id);
  ASSERT_TRUE(shown) << clients.ToString();

  // The same columns, typed; the same values where nothing moved between
  // the two reads (the session idles).
  EXPECT_EQ(mine->AsObject().size(), clients.columns().size()) << response.body;
  for (const std::string& column : clients.columns()) EXPECT_TRUE(mine->Has(column)) << column;
  for (std::string_view column : {"database", "user", "application_name", "client_addr", "state", "upstream"}) {
    EXPECT_EQ(mine->At(column).AsString(), clients.Text(*shown, column)) << column;
  }
  for (std::string_view column : {"client_port", "virtual_pid", "backend_pid", "bytes_in", "bytes_out"}) {
    EXPECT_EQ(mine->At(column).AsNumberText(), clients.Text(*shown, column)) << column;
  }
  EXPECT_TRUE(mine->At("xact_start").is_null()) << "NULL is null, not a string";

  const ResultTable databases = QueryTable(admin.get(), "SHOW DATABASES");
  const JsonValue database_rows = JsonValue::Parse(HttpGet(port(), "/v1/databases", Monitor()).body);
  const std::optional<size_t> db_row = databases.FindRow("name", db);
  ASSERT_TRUE(db_row) << databases.ToString();
  bool found = false;
  for (const JsonValue& row : database_rows.AsArray()) {
    if (row.At("name").AsString() != db) continue;
    found = true;
    EXPECT_EQ(row.At("sessions").AsNumberText(), databases.Text(*db_row, "sessions"));
    EXPECT_EQ(row.At("state").AsString(), databases.Text(*db_row, "state"));
  }
  EXPECT_TRUE(found) << db;
}

size_t Occurrences(const std::string& text, std::string_view what) {
  size_t count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

// POST /v1/reload runs RELOAD: the admin role only, no body, and not on a
// browser's behalf.
TEST_F(HttpEndpointTest, ReloadIsAnAdminsCommandAndNotABrowsers) {
  HttpRequest reload;
  reload.method = "POST";
  reload.port = port();
  reload.target = "/v1/reload";
  EXPECT_EQ(SendHttpRequest(reload).status, 401);
  reload.credentials = Monitor();
  const HttpResponse denied = SendHttpRequest(reload);
  EXPECT_EQ(denied.status, 403) << denied.ToString();
  EXPECT_EQ(JsonValue::Parse(denied.body).At("sqlstate").AsString(), "42501") << denied.body;

  reload.credentials = BasicCredentials{std::string(kAdminUser), std::string(kAdminPassword)};
  reload.headers = {{"Origin", "https://intranet.example"}};
  EXPECT_EQ(SendHttpRequest(reload).status, 403) << "what a page's script would send";
  reload.headers.clear();
  reload.body = "{}";
  EXPECT_EQ(SendHttpRequest(reload).status, 400);
  reload.body.clear();

  constexpr std::string_view kReloaded = "configuration reloaded";
  const size_t reloads_before = Occurrences(pgvalve().process().Log(), kReloaded);
  const HttpResponse done = SendHttpRequest(reload);
  EXPECT_EQ(done.status, 200) << done.ToString();
  EXPECT_EQ(JsonValue::Parse(done.body).At("command").AsString(), "RELOAD") << done.body;
  EXPECT_EQ(Occurrences(pgvalve().process().Log(), kReloaded), reloads_before + 1)
      << pgvalve().process().LogTail();

  const HttpResponse get = HttpGet(port(), "/v1/reload", reload.credentials);
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.Header("Allow"), "POST");
}

TEST_F(HttpEndpointTest, JsonViewsAskForCredentialsWhateverMetricsAuthSays) {
  EXPECT_EQ(HttpGet(port(), "/v1/clients").status, 401);
  EXPECT_EQ(HttpGet(port(), "/v1/clients", BasicCredentials{std::string(kMonitorUser), "wrong"}).status, 401);
  EXPECT_EQ(HttpGet(port(), "/v1/stats", Monitor()).status, 200);
  EXPECT_EQ(HttpGet(port(), "/v1/nothing", Monitor()).status, 404);
}

// Last: it stops the shared PostgreSQL for a while.
TEST_F(HttpEndpointTest, ReadyzFollowsTheUpstream) {
  std::string last;
  ASSERT_TRUE(WaitForStatus(port(), "/readyz", 200, kReadinessTimeout, last)) << last;
  EXPECT_EQ(JsonValue::Parse(HttpGet(port(), "/readyz").body).At("status").AsString(), "ready");

  PostmasterRestorer restorer(pg());
  pg().StopPostmaster();
  ASSERT_TRUE(WaitForStatus(port(), "/readyz", 503, kReadinessTimeout, last)) << last;
  const HttpResponse not_ready = HttpGet(port(), "/readyz");
  const JsonValue body = JsonValue::Parse(not_ready.body);
  EXPECT_EQ(body.At("status").AsString(), "not ready") << not_ready.body;
  const std::vector<JsonValue>& failed = body.At("failed").AsArray();
  ASSERT_EQ(failed.size(), 1u) << not_ready.body;
  EXPECT_EQ(failed[0].At("upstream").AsString(), "blue") << not_ready.body;
  EXPECT_FALSE(failed[0].At("error").AsString().empty()) << not_ready.body;

  pg().StartPostmaster();
  EXPECT_TRUE(WaitForStatus(port(), "/readyz", 200, kReadinessTimeout, last)) << last;
}

}  // namespace

AdminPgvalveOptions SharedPgvalveOptions(const PgServer& pg) {
  AdminPgvalveOptions options;
  options.extra_toml = HttpToml(SharedHttpPort(), /*metrics_auth=*/true);
  return options;
}

}  // namespace pgvalve::test
