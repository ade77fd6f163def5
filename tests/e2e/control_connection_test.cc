// The admin console's control connection against a real PostgreSQL 15: no
// pgvalve involved. Each test runs its coroutine on an io_context driven by
// the test thread, with a hang guard.

#include "upstream/control_connection.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "protocol/backend_writer.h"
#include "protocol/message_writer.h"
#include "protocol/protocol_error.h"
#include "proxy/deadline.h"
#include "proxy/status_text.h"
#include "tests/support/free_port.h"
#include "tests/support/libpq_helpers.h"
#include "tests/support/pg_server.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/proxy/fake_server.h"
#include "tests/unit/proxy/wire.h"

namespace pgvalve::admin {
namespace {

namespace asio = proxy::asio;
using namespace std::chrono_literals;
using proxy::Awaitable;
using proxy::SleepFor;
using proxy::StatusText;
using Clock = std::chrono::steady_clock;
using Executor = asio::any_io_executor;

// ASSERT_* returns from the function, which a coroutine cannot do. Each
// evaluates its argument once, so it may be a co_await.
#define CO_ASSERT_TRUE(condition)                     \
  if (!(condition)) {                                 \
    ADD_FAILURE() << "expected true: " << #condition; \
    co_return;                                        \
  }
#define CO_ASSERT_OK(expression)                                           \
  if (const auto& co_assert_value = (expression); !co_assert_value.ok()) { \
    ADD_FAILURE() << #expression << ": " << StatusOf(co_assert_value);     \
    co_return;                                                             \
  }

std::string StatusOf(const absl::Status& status) { return std::string(StatusText(status)); }
template <typename T>
std::string StatusOf(const absl::StatusOr<T>& status_or) {
  return StatusOf(status_or.status());
}

// GCC 12 rejects a braced list with elements inside a co_await expression
// ("array used as initializer"), so parameter lists are built out here.
template <typename... Values>
std::vector<std::optional<std::string>> Bind(Values&&... values) {
  return {std::optional<std::string>(std::forward<Values>(values))...};
}

bool Contains(const absl::Status& status, std::string_view text) {
  return StatusText(status).find(text) != std::string_view::npos;
}

// The first column of the first row, "<NULL>" for NULL.
std::string Scalar(const upstream::QueryResult& result) {
  if (result.rows.empty() || result.rows[0].empty()) return "<no rows>";
  return result.rows[0][0].value_or("<NULL>");
}

class ControlConnectionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<test::PgServer>(); }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override { ASSERT_NE(server_, nullptr) << "PostgreSQL did not start"; }

  static test::PgServer& pg() { return *server_; }

  static config::UpstreamConfig Upstream(std::string user = std::string(test::kSuperuser)) {
    config::UpstreamConfig upstream;
    upstream.name = "main";
    upstream.host = pg().host();
    upstream.port = pg().port();
    upstream.connect_timeout = 5000ms;
    upstream.control_user = std::move(user);
    return upstream;
  }

  // Runs body(executor) on a fresh io_context on this thread until it
  // finishes, then abandons whatever else is still queued. Fails the test
  // if the body is still running after `limit`.
  template <typename Body>
  static void RunOnEventLoop(Body body, std::chrono::seconds limit = 60s) {
    asio::io_context io;
    bool finished = false;
    asio::co_spawn(io, body(io.get_executor()), [&](std::exception_ptr failure) {
      finished = true;
      io.stop();
      if (!failure) return;
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& error) {
        ADD_FAILURE() << "test coroutine threw: " << error.what();
      }
    });
    io.run_for(limit);
    if (!finished) {
      ADD_FAILURE() << "hang guard: test coroutine still running after " << limit.count() << " s";
    }
  }

  // Polls pg_stat_activity until `pid` has left it; false if it is still
  // there after `wait`. Each poll is the harness's blocking libpq call: it
  // stalls the event loop for a moment, which these tests can afford.
  static Awaitable<bool> BackendGone(int32_t pid, std::chrono::milliseconds wait) {
    const auto deadline = Clock::now() + wait;
    for (;;) {
      const std::string count =
          pg().QueryScalar("SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid));
      if (count == "0") co_return true;
      if (Clock::now() >= deadline) co_return false;
      co_await SleepFor(50ms);
    }
  }

  // The upstream restarted while the control connection sat idle, as after
  // an incident: until a statement needs it, the dead connection reports no
  // pid; the first statement afterwards runs on a new connection.
  static void ExpectFirstStatementAfterRestartSucceeds(test::PgServer::StopMode mode) {
    RunOnEventLoop([mode](Executor executor) -> Awaitable<void> {
      upstream::ControlConnection control(executor, Upstream());
      CO_ASSERT_OK(co_await control.EnsureConnected());
      const int32_t before = control.backend_pid();
      CO_ASSERT_TRUE(before != 0);

      pg().StopPostmaster(mode);
      pg().StartPostmaster();
      EXPECT_EQ(control.backend_pid(), 0) << "a dead control connection still reports pid " << before;
      EXPECT_EQ(control.server_version(), 0);

      absl::StatusOr<upstream::QueryResult> result = co_await control.Query("SELECT pg_backend_pid()", {});
      CO_ASSERT_OK(result);
      EXPECT_NE(control.backend_pid(), before);
      EXPECT_EQ(Scalar(*result), std::to_string(control.backend_pid()));
    });
  }

  static std::unique_ptr<test::PgServer> server_;
};

std::unique_ptr<test::PgServer> ControlConnectionTest::server_;

TEST_F(ControlConnectionTest, ReportsItsBackendPidAndServerVersion) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    EXPECT_TRUE(control.has_credentials());
    EXPECT_EQ(control.backend_pid(), 0);
    EXPECT_EQ(control.server_version(), 0);

    absl::Status connected = co_await control.EnsureConnected();
    CO_ASSERT_OK(connected);
    EXPECT_GE(control.server_version(), 150000);

    absl::StatusOr<upstream::QueryResult> result =
        co_await control.Query("SELECT pg_backend_pid(), current_setting('application_name') AS app", {});
    CO_ASSERT_OK(result);
    EXPECT_EQ(result->columns, (std::vector<std::string>{"pg_backend_pid", "app"}));
    CO_ASSERT_TRUE(result->rows.size() == 1);
    EXPECT_EQ(result->rows[0][0], std::to_string(control.backend_pid()));
    EXPECT_EQ(result->rows[0][1], "pgvalve control");
    EXPECT_EQ(result->command_tag, "SELECT 1");
  });
}

TEST_F(ControlConnectionTest, BindsParametersInsteadOfSplicingThem) {
  pg().RunSql("CREATE TABLE IF NOT EXISTS t (x int)");
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    const std::string hostile = "x'; DROP TABLE t; --";
    absl::StatusOr<upstream::QueryResult> echoed = co_await control.Query("SELECT $1::text", Bind(hostile));
    CO_ASSERT_OK(echoed);
    EXPECT_EQ(Scalar(*echoed), hostile);

    const std::string unicode = "naïve \"quoted\" ✓ $2 \\";
    absl::StatusOr<upstream::QueryResult> several =
        co_await control.Query("SELECT $1::int + $2::int, $3::text", Bind("2", "3", unicode));
    CO_ASSERT_OK(several);
    CO_ASSERT_TRUE(several->rows.size() == 1);
    EXPECT_EQ(several->rows[0][0], "5");
    EXPECT_EQ(several->rows[0][1], unicode);
  });
  EXPECT_EQ(pg().QueryScalar("SELECT to_regclass('t') IS NOT NULL"), "t");
}

TEST_F(ControlConnectionTest, PassesNullBothWays) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    absl::StatusOr<upstream::QueryResult> result =
        co_await control.Query("SELECT $1::text IS NULL, $1::text, NULL::int, ''::text", Bind(std::nullopt));
    CO_ASSERT_OK(result);
    CO_ASSERT_TRUE(result->rows.size() == 1);
    const auto& row = result->rows[0];
    EXPECT_EQ(row[0], "t");
    EXPECT_EQ(row[1], std::nullopt);
    EXPECT_EQ(row[2], std::nullopt);
    EXPECT_EQ(row[3], "");  // empty, not NULL
  });
}

TEST_F(ControlConnectionTest, ReturnsEveryRowAndTheCommandTag) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    // Some megabytes: the results arrive over many reads.
    absl::StatusOr<upstream::QueryResult> result = co_await control.Query(
        "SELECT g, repeat('x', 20) AS filler FROM generate_series(1, $1::int) AS g", Bind("100000"));
    CO_ASSERT_OK(result);
    EXPECT_EQ(result->columns, (std::vector<std::string>{"g", "filler"}));
    EXPECT_EQ(result->command_tag, "SELECT 100000");
    CO_ASSERT_TRUE(result->rows.size() == 100000);
    EXPECT_EQ(result->rows[99999][0], "100000");
    EXPECT_EQ(result->rows[99999][1], std::string(20, 'x'));

    absl::StatusOr<upstream::QueryResult> empty = co_await control.Query("SELECT 1 WHERE false", {});
    CO_ASSERT_OK(empty);
    EXPECT_TRUE(empty->rows.empty());
    EXPECT_EQ(empty->columns.size(), 1u);
    EXPECT_EQ(empty->command_tag, "SELECT 0");
  });
}

TEST_F(ControlConnectionTest, SendsAParameterLargerThanTheSocketBuffer) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    // libpq cannot write it at once; the rest goes out as the socket drains.
    absl::StatusOr<upstream::QueryResult> result =
        co_await control.Query("SELECT length($1::text)", Bind(std::string(16 << 20, 'p')));
    CO_ASSERT_OK(result);
    EXPECT_EQ(Scalar(*result), std::to_string(16 << 20));
  });
}

TEST_F(ControlConnectionTest, ServerErrorsCarryTheirSqlState) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    absl::StatusOr<upstream::QueryResult> typo = co_await control.Query("SELEC 1", {});
    EXPECT_FALSE(typo.ok());
    EXPECT_EQ(protocol::SqlStateOf(typo.status()), "42601");
    EXPECT_TRUE(Contains(typo.status(), "upstream \"main\"")) << StatusOf(typo);
    EXPECT_TRUE(Contains(typo.status(), "syntax error")) << StatusOf(typo);
    const int32_t pid = control.backend_pid();

    absl::StatusOr<upstream::QueryResult> division = co_await control.Query("SELECT 1 / $1::int", Bind("0"));
    EXPECT_EQ(protocol::SqlStateOf(division.status()), "22012") << StatusOf(division);

    // One statement per call: the extended protocol refuses two.
    absl::StatusOr<upstream::QueryResult> two = co_await control.Query("SELECT 1; SELECT 2", {});
    EXPECT_EQ(protocol::SqlStateOf(two.status()), "42601") << StatusOf(two);

    // An error ends the statement, not the connection.
    absl::StatusOr<upstream::QueryResult> after = co_await control.Query("SELECT 1", {});
    CO_ASSERT_OK(after);
    EXPECT_EQ(control.backend_pid(), pid);
  });
}

TEST_F(ControlConnectionTest, NoticesComeWithTheResult) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    // PID 1 is init, never a backend: PostgreSQL warns and returns false.
    absl::StatusOr<upstream::QueryResult> result = co_await control.Query("SELECT pg_terminate_backend($1)", Bind("1"));
    CO_ASSERT_OK(result);
    EXPECT_EQ(Scalar(*result), "f");
    CO_ASSERT_TRUE(result->notices.size() == 1);
    EXPECT_EQ(result->notices[0], "WARNING: PID 1 is not a PostgreSQL backend process");

    absl::StatusOr<upstream::QueryResult> quiet = co_await control.Query("SELECT 1", {});
    CO_ASSERT_OK(quiet);
    EXPECT_TRUE(quiet->notices.empty());
  });
}

TEST_F(ControlConnectionTest, ScramPasswordIsAcceptedAndAWrongOneIsRefused) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    config::UpstreamConfig upstream = Upstream(std::string(test::kScramUser));
    upstream.control_password = std::string(test::kScramPassword);
    upstream::ControlConnection control(executor, upstream);
    absl::StatusOr<upstream::QueryResult> who = co_await control.Query("SELECT current_user", {});
    CO_ASSERT_OK(who);
    EXPECT_EQ(Scalar(*who), test::kScramUser);

    upstream.control_password = "not the password";
    upstream::ControlConnection refused(executor, upstream);
    absl::Status connected = co_await refused.EnsureConnected();
    EXPECT_EQ(connected.code(), absl::StatusCode::kUnavailable);
    EXPECT_TRUE(Contains(connected, "upstream \"main\"")) << StatusOf(connected);
    EXPECT_TRUE(Contains(connected, "password authentication failed for user \"scram_user\""))
        << StatusOf(connected);
    EXPECT_EQ(refused.backend_pid(), 0);
  });
}

TEST_F(ControlConnectionTest, PassfileSuppliesThePassword) {
  test::TempDir dir("pgvalve-passfile");
  const std::string passfile = dir.path() + "/pgpass";
  {
    std::ofstream out(passfile);
    out << "127.0.0.1:" << pg().port() << ":*:" << test::kScramUser << ":" << test::kScramPassword << "\n";
  }
  // libpq ignores a passfile that others may read.
  ASSERT_EQ(::chmod(passfile.c_str(), 0600), 0);

  RunOnEventLoop([&](Executor executor) -> Awaitable<void> {
    config::UpstreamConfig upstream = Upstream(std::string(test::kScramUser));
    upstream.control_passfile = passfile;
    upstream::ControlConnection control(executor, upstream);
    absl::StatusOr<upstream::QueryResult> who = co_await control.Query("SELECT current_user", {});
    CO_ASSERT_OK(who);
    EXPECT_EQ(Scalar(*who), test::kScramUser);
  });
}

TEST_F(ControlConnectionTest, ConnectsThroughAUnixSocketDirectory) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    config::UpstreamConfig upstream = Upstream();
    upstream.host = pg().socket_dir();
    upstream::ControlConnection control(executor, upstream);
    absl::StatusOr<upstream::QueryResult> address = co_await control.Query("SELECT inet_client_addr() IS NULL", {});
    CO_ASSERT_OK(address);
    EXPECT_EQ(Scalar(*address), "t");  // no client address: a unix socket
  });
}

TEST_F(ControlConnectionTest, ResolvesAHostName) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    config::UpstreamConfig upstream = Upstream();
    // May resolve to ::1 first, where nothing listens; libpq moves on to
    // 127.0.0.1.
    upstream.host = "localhost";
    upstream::ControlConnection control(executor, upstream);
    absl::StatusOr<upstream::QueryResult> address = co_await control.Query("SELECT host(inet_client_addr())", {});
    CO_ASSERT_OK(address);
    EXPECT_EQ(Scalar(*address), "127.0.0.1");
  });
}

TEST_F(ControlConnectionTest, RefusedConnectionNamesTheUpstream) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    config::UpstreamConfig upstream = Upstream();
    upstream.port = test::FreeTcpPort();
    upstream.connect_timeout = 2000ms;
    upstream::ControlConnection control(executor, upstream);
    const auto start = Clock::now();
    absl::StatusOr<upstream::QueryResult> result = co_await control.Query("SELECT 1", {});
    EXPECT_LT(Clock::now() - start, upstream.connect_timeout);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_TRUE(Contains(result.status(), fmt::format("upstream \"main\" at 127.0.0.1:{}", upstream.port)))
        << StatusOf(result);
    EXPECT_TRUE(Contains(result.status(), "Connection refused")) << StatusOf(result);
  });
}

TEST_F(ControlConnectionTest, UnknownHostNameFailsNamingTheUpstream) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    config::UpstreamConfig upstream = Upstream();
    upstream.host = "no-such-host.invalid";
    upstream.connect_timeout = 2000ms;
    upstream::ControlConnection control(executor, upstream);
    const auto start = Clock::now();
    absl::Status connected = co_await control.EnsureConnected();
    // However slow the resolver, the connect timeout bounds the wait.
    EXPECT_LT(Clock::now() - start, 3s);
    EXPECT_EQ(connected.code(), absl::StatusCode::kUnavailable);
    EXPECT_TRUE(Contains(connected, "upstream \"main\" at no-such-host.invalid:")) << StatusOf(connected);
  });
}

TEST_F(ControlConnectionTest, SilentServerTimesOutWithinConnectTimeout) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    // The kernel completes the TCP handshake for a listening socket; nobody
    // ever reads libpq's first packet.
    asio::ip::tcp::acceptor silent(executor, {asio::ip::make_address("127.0.0.1"), 0});
    config::UpstreamConfig upstream = Upstream();
    upstream.port = silent.local_endpoint().port();
    upstream.connect_timeout = 300ms;
    upstream::ControlConnection control(executor, upstream);
    const auto start = Clock::now();
    absl::Status connected = co_await control.EnsureConnected();
    const auto elapsed = Clock::now() - start;
    EXPECT_GE(elapsed, 290ms);
    EXPECT_LT(elapsed, 2s);
    EXPECT_EQ(connected.code(), absl::StatusCode::kUnavailable);
    EXPECT_TRUE(Contains(connected, "upstream \"main\"")) << StatusOf(connected);
    EXPECT_TRUE(Contains(connected, "timed out after 300 ms")) << StatusOf(connected);
  });
}

TEST_F(ControlConnectionTest, StatementTimeoutCancelsItAndTheNextStatementWorks) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    CO_ASSERT_OK(co_await control.EnsureConnected());
    const int32_t sleeper = control.backend_pid();

    const auto start = Clock::now();
    absl::StatusOr<upstream::QueryResult> slow = co_await control.Query("SELECT pg_sleep(30)", {}, 300ms);
    const auto elapsed = Clock::now() - start;
    EXPECT_EQ(slow.status().code(), absl::StatusCode::kDeadlineExceeded) << StatusOf(slow);
    EXPECT_TRUE(Contains(slow.status(), "upstream \"main\"")) << StatusOf(slow);
    EXPECT_GE(elapsed, 290ms);
    EXPECT_LT(elapsed, 2s);
    EXPECT_EQ(control.backend_pid(), 0);  // reset

    absl::StatusOr<upstream::QueryResult> next = co_await control.Query("SELECT 42", {});
    CO_ASSERT_OK(next);
    EXPECT_EQ(Scalar(*next), "42");
    EXPECT_NE(control.backend_pid(), sleeper);

    // Without the cancel the old backend would sleep out its 30 s: it does
    // not notice that its client left.
    EXPECT_TRUE(co_await BackendGone(sleeper, 10s)) << "backend " << sleeper << " still running";
  });
}

TEST_F(ControlConnectionTest, ConcurrentCallersAreServedOneAtATimeInOrder) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    constexpr int kCallers = 20;
    std::vector<int> finished;
    std::vector<std::string> pids;
    int failures = 0;
    for (int i = 0; i < kCallers; ++i) {
      asio::co_spawn(
          executor,
          [&control, &finished, &pids, &failures, i]() -> Awaitable<void> {
            absl::StatusOr<upstream::QueryResult> result = co_await control.Query(
                "SELECT $1::int, pg_backend_pid(), pg_sleep(0.01)", Bind(std::to_string(i)));
            if (!result.ok() || Scalar(*result) != std::to_string(i)) {
              ADD_FAILURE() << "caller " << i << ": " << StatusOf(result);
              ++failures;
            } else {
              pids.push_back(*result->rows[0][1]);
            }
            finished.push_back(i);
          },
          asio::detached);
    }
    while (finished.size() < kCallers) co_await SleepFor(5ms);
    EXPECT_EQ(failures, 0);
    std::vector<int> in_order(kCallers);
    for (int i = 0; i < kCallers; ++i) in_order[i] = i;
    EXPECT_EQ(finished, in_order);
    // All on the one connection.
    CO_ASSERT_TRUE(!pids.empty());
    for (const std::string& pid : pids) EXPECT_EQ(pid, pids.front());
  });
}

TEST_F(ControlConnectionTest, EventLoopKeepsRunningDuringAStatement) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    CO_ASSERT_OK(co_await control.EnsureConnected());
    int ticks = 0;
    bool stop = false;
    asio::co_spawn(
        executor,
        [&ticks, &stop]() -> Awaitable<void> {
          while (!stop) {
            co_await SleepFor(10ms);
            ++ticks;
          }
        },
        asio::detached);
    absl::StatusOr<upstream::QueryResult> slept = co_await control.Query("SELECT pg_sleep(1)", {});
    stop = true;
    CO_ASSERT_OK(slept);
    EXPECT_GE(ticks, 50) << "the event loop was blocked during the statement";
  });
}

TEST_F(ControlConnectionTest, ReportsItsOwnPidSoCallersCanSpareIt) {
  test::PgConn victim = test::Connect(pg().ConnString());
  const std::string victim_pid = test::ScalarString(victim.get(), "SELECT pg_backend_pid()");

  RunOnEventLoop([&](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    CO_ASSERT_OK(co_await control.EnsureConnected());
    const int32_t own = control.backend_pid();
    EXPECT_NE(std::to_string(own), victim_pid);

    absl::StatusOr<upstream::QueryResult> terminated =
        co_await control.Query("SELECT pg_terminate_backend($1)", Bind(victim_pid));
    CO_ASSERT_OK(terminated);
    EXPECT_EQ(Scalar(*terminated), "t");

    // Nothing stops a caller from terminating the control backend itself;
    // that ends the statement with the server's FATAL, and the next
    // statement runs on a new connection.
    absl::StatusOr<upstream::QueryResult> suicide =
        co_await control.Query("SELECT pg_terminate_backend($1)", Bind(std::to_string(own)));
    EXPECT_FALSE(suicide.ok());
    EXPECT_EQ(protocol::SqlStateOf(suicide.status()), "57P01") << StatusOf(suicide);
    absl::StatusOr<upstream::QueryResult> next = co_await control.Query("SELECT pg_backend_pid()", {});
    CO_ASSERT_OK(next);
    EXPECT_NE(control.backend_pid(), own);
    EXPECT_EQ(Scalar(*next), std::to_string(control.backend_pid()));
  });
}

TEST_F(ControlConnectionTest, RefusedTerminateCarriesInsufficientPrivilege) {
  test::PgConn superuser_session = test::Connect(pg().ConnString());
  const std::string superuser_pid = test::ScalarString(superuser_session.get(), "SELECT pg_backend_pid()");

  RunOnEventLoop([&](Executor executor) -> Awaitable<void> {
    config::UpstreamConfig upstream = Upstream(std::string(test::kScramUser));
    upstream.control_password = std::string(test::kScramPassword);
    upstream::ControlConnection control(executor, upstream);
    absl::StatusOr<upstream::QueryResult> refused =
        co_await control.Query("SELECT pg_terminate_backend($1)", Bind(superuser_pid));
    EXPECT_FALSE(refused.ok());
    EXPECT_EQ(protocol::SqlStateOf(refused.status()), "42501") << StatusOf(refused);
  });
}

TEST_F(ControlConnectionTest, IdleConnectionClosedByTheServerIsReplacedBeforeSending) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    CO_ASSERT_OK(co_await control.EnsureConnected());
    const int32_t first = control.backend_pid();
    pg().RunSql("SELECT pg_terminate_backend(" + std::to_string(first) + ")");
    CO_ASSERT_TRUE(co_await BackendGone(first, 10s));

    absl::StatusOr<upstream::QueryResult> result = co_await control.Query("SELECT pg_backend_pid()", {});
    CO_ASSERT_OK(result);
    EXPECT_NE(control.backend_pid(), first);
    EXPECT_EQ(Scalar(*result), std::to_string(control.backend_pid()));
  });
}

TEST_F(ControlConnectionTest, FirstStatementAfterAFastRestartRunsOnANewConnection) {
  ExpectFirstStatementAfterRestartSucceeds(test::PgServer::StopMode::kFast);
}

// An immediate shutdown says goodbye with a WARNING, not a FATAL: only the
// end of file behind it tells that the connection is gone.
TEST_F(ControlConnectionTest, FirstStatementAfterAnImmediateRestartRunsOnANewConnection) {
  ExpectFirstStatementAfterRestartSucceeds(test::PgServer::StopMode::kImmediate);
}

// A server whose last words are not a FATAL (a WARNING, as an immediate
// shutdown sends, or any message that arrives unasked) and which then
// closes: libpq's read returns the words and not yet the end of file. A
// scripted server makes that order certain: once told, the first
// connection's server sends a WARNING and closes; the second answers.
TEST_F(ControlConnectionTest, ServerThatSaidSomethingAndClosedIsReplacedBeforeSending) {
  namespace fake = proxy::testutil;
  struct Cue {
    std::mutex mutex;
    std::condition_variable changed;
    bool say_goodbye = false;
    int sessions = 0;
  };
  auto cue = std::make_shared<Cue>();
  fake::FakeServer server([cue](fake::FakeConnection& connection) {
    int session = 0;
    {
      std::lock_guard lock(cue->mutex);
      session = cue->sessions++;
    }
    if (!fake::AcceptStartup(connection, 4000 + session)) return;
    if (session == 0) {
      std::unique_lock lock(cue->mutex);
      if (!cue->changed.wait_for(lock, fake::kIoTimeout, [&cue] { return cue->say_goodbye; })) return;
      protocol::MessageWriter notice;
      protocol::AppendNoticeResponse(
          notice, {.severity = protocol::Severity::kWarning,
                   .sqlstate = "57P01",
                   .message = "terminating connection due to immediate shutdown command"});
      connection.Send(notice.bytes());
      connection.Close();
      return;
    }
    // Parse, Bind, Describe, Execute, Sync: a statement without rows.
    for (fake::ReceivedMessage received = connection.ReadMessage(); received.ok();
         received = connection.ReadMessage()) {
      if (received.message.tag != 'S') continue;
      connection.Send(fake::Concat({fake::Encode({'1', {}}), fake::Encode({'2', {}}), fake::Encode({'n', {}}),
                                    fake::CommandCompleteMessage("DO"), fake::ReadyForQueryMessage('I')}));
    }
  });

  // The scripted server speaks neither TLS nor GSSAPI encryption.
  ::setenv("PGSSLMODE", "disable", 1);
  ::setenv("PGGSSENCMODE", "disable", 1);
  RunOnEventLoop([&server, cue](Executor executor) -> Awaitable<void> {
    config::UpstreamConfig upstream = Upstream();
    upstream.port = server.port();
    upstream::ControlConnection control(executor, upstream);
    CO_ASSERT_OK(co_await control.EnsureConnected());
    EXPECT_EQ(control.backend_pid(), 4000);
    {
      std::lock_guard lock(cue->mutex);
      cue->say_goodbye = true;
    }
    cue->changed.notify_all();
    std::shared_ptr<fake::FakeConnection> first = server.WaitForSession(0);
    CO_ASSERT_TRUE(first != nullptr && first->WaitUntilDone());
    // The WARNING and the end of file are both on their way; a dead
    // connection reports no pid once they landed.
    EXPECT_TRUE(co_await [&control]() -> Awaitable<bool> {
      const auto deadline = Clock::now() + 5s;
      while (control.backend_pid() != 0) {
        if (Clock::now() >= deadline) co_return false;
        co_await SleepFor(10ms);
      }
      co_return true;
    }());

    absl::StatusOr<upstream::QueryResult> result = co_await control.Query("DO $$ BEGIN END $$", {});
    CO_ASSERT_OK(result);
    EXPECT_EQ(result->command_tag, "DO");
    EXPECT_EQ(control.backend_pid(), 4001);
  });
  ::unsetenv("PGSSLMODE");
  ::unsetenv("PGGSSENCMODE");
  server.Stop();
}

TEST_F(ControlConnectionTest, StatementsDoNotInheritAnOpenTransaction) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    CO_ASSERT_OK(co_await control.Query("BEGIN", {}));
    const int32_t in_transaction = control.backend_pid();
    // Only outside a transaction block does SET LOCAL warn.
    absl::StatusOr<upstream::QueryResult> set_local = co_await control.Query("SET LOCAL work_mem = '8MB'", {});
    CO_ASSERT_OK(set_local);
    EXPECT_EQ(set_local->notices,
              std::vector<std::string>{"WARNING: SET LOCAL can only be used in transaction blocks"});
    EXPECT_NE(control.backend_pid(), in_transaction);
  });
}

TEST_F(ControlConnectionTest, CopyIsRefusedAndTheConnectionRecovers) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    absl::StatusOr<upstream::QueryResult> copy = co_await control.Query("COPY (SELECT 1) TO STDOUT", {});
    EXPECT_EQ(copy.status().code(), absl::StatusCode::kUnimplemented) << StatusOf(copy);
    absl::StatusOr<upstream::QueryResult> next = co_await control.Query("SELECT 7", {});
    CO_ASSERT_OK(next);
    EXPECT_EQ(Scalar(*next), "7");
  });
}

TEST_F(ControlConnectionTest, CallerCancellationLeavesTheConnectionUsable) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    CO_ASSERT_OK(co_await control.EnsureConnected());
    const int32_t sleeper = control.backend_pid();

    // Cancelled mid-statement by the caller's own deadline.
    auto running = co_await proxy::WithTimeout(control.Query("SELECT pg_sleep(30)", {}), 300ms);
    EXPECT_FALSE(running.has_value());

    // Cancelled while queued behind another caller's statement.
    bool first_done = false;
    asio::co_spawn(
        executor,
        [&control, &first_done]() -> Awaitable<void> {
          absl::StatusOr<upstream::QueryResult> first = co_await control.Query("SELECT pg_sleep(0.5)", {});
          EXPECT_TRUE(first.ok()) << StatusOf(first);
          first_done = true;
        },
        asio::detached);
    auto queued = co_await proxy::WithTimeout(control.Query("SELECT 1", {}), 100ms);
    EXPECT_FALSE(queued.has_value());
    absl::StatusOr<upstream::QueryResult> after = co_await control.Query("SELECT 'after'", {});
    EXPECT_TRUE(first_done);
    CO_ASSERT_OK(after);
    EXPECT_EQ(Scalar(*after), "after");
    EXPECT_TRUE(co_await BackendGone(sleeper, 10s)) << "backend " << sleeper << " still running";
  });
}

TEST_F(ControlConnectionTest, DestructionEndsPendingCallsAndCancelsTheStatement) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    auto control = std::make_unique<upstream::ControlConnection>(executor, Upstream());
    CO_ASSERT_OK(co_await control->EnsureConnected());
    const int32_t sleeper = control->backend_pid();

    std::vector<absl::Status> outcomes;
    for (const char* sql : {"SELECT pg_sleep(30)", "SELECT 1"}) {
      asio::co_spawn(
          executor,
          [&outcomes, query = control->Query(sql, {})]() mutable -> Awaitable<void> {
            absl::StatusOr<upstream::QueryResult> result = co_await std::move(query);
            outcomes.push_back(result.status());
          },
          asio::detached);
    }
    co_await SleepFor(300ms);
    EXPECT_TRUE(outcomes.empty());
    control.reset();
    while (outcomes.size() < 2) co_await SleepFor(5ms);
    for (const absl::Status& outcome : outcomes) {
      EXPECT_EQ(outcome.code(), absl::StatusCode::kCancelled) << StatusOf(outcome);
      EXPECT_TRUE(Contains(outcome, "control connection closed")) << StatusOf(outcome);
    }
    EXPECT_TRUE(co_await BackendGone(sleeper, 10s)) << "backend " << sleeper << " still running";
  });
}

// The order a server shutting down uses: the connection first, with calls
// still in flight, then the io_context without running it again.
TEST_F(ControlConnectionTest, ShutdownWithCallsInFlight) {
  int32_t sleeper = 0;
  {
    asio::io_context io;
    auto control = std::make_unique<upstream::ControlConnection>(io.get_executor(), Upstream());
    for (const char* sql : {"SELECT pg_sleep(30)", "SELECT 1"}) {
      asio::co_spawn(io, control->Query(sql, {}), asio::detached);
    }
    io.run_for(500ms);
    sleeper = control->backend_pid();
    EXPECT_NE(sleeper, 0);
    control.reset();
  }
  RunOnEventLoop([sleeper](Executor) -> Awaitable<void> {
    EXPECT_TRUE(co_await BackendGone(sleeper, 10s)) << "backend " << sleeper << " still running";
  });
}

TEST_F(ControlConnectionTest, WithoutControlUserNothingIsAttempted) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    config::UpstreamConfig upstream = Upstream();
    upstream.control_user.reset();
    upstream::ControlConnection control(executor, upstream);
    EXPECT_FALSE(control.has_credentials());
    absl::Status connected = co_await control.EnsureConnected();
    EXPECT_EQ(connected.code(), absl::StatusCode::kFailedPrecondition);
    absl::StatusOr<upstream::QueryResult> result = co_await control.Query("SELECT 1", {});
    EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(Contains(result.status(), "upstream \"main\" has no control_user")) << StatusOf(result);
  });
}

TEST_F(ControlConnectionTest, RejectsParametersLibpqWouldCutShort) {
  RunOnEventLoop([](Executor executor) -> Awaitable<void> {
    upstream::ControlConnection control(executor, Upstream());
    absl::StatusOr<upstream::QueryResult> result =
        co_await control.Query("SELECT $1::text", Bind(std::string("a\0b", 3)));
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(result.status(), "parameter $1 contains a NUL byte")) << StatusOf(result);
  });
}

}  // namespace
}  // namespace pgvalve::admin
