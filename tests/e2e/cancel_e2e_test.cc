// Cancel requests through pgvalve: libpq's PQcancel stops a running query
// (over TCP and over the unix socket), a request with a wrong secret
// changes nothing, and the pid a client is given is pgvalve's own.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "tests/e2e/libpq_waits.h"
#include "tests/e2e/raw_connection.h"
#include "tests/support/e2e_environment.h"
#include "tests/support/libpq_helpers.h"
#include "tests/support/pgvalve_process.h"

namespace pgvalve::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// pgvalve's virtual pids start above any pid Linux can hand out.
constexpr int32_t kFirstVirtualPid = 1 << 30;

// Lines of `log` that contain `needle`.
size_t CountLines(const std::string& log, std::string_view needle) {
  size_t count = 0;
  for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

struct PgCancelFreer {
  void operator()(PGcancel* cancel) const noexcept { PQfreeCancel(cancel); }
};

class CancelTest : public ProxiedPostgresTest {
 protected:
  // The pid of the backend that runs a statement starting with
  // `query_prefix` for the session named `application_name`, once it does;
  // 0 if none does within 30 s. Watched over a direct connection, so it
  // works whatever sits in front of the session.
  static int32_t RunningBackendPid(const std::string& application_name,
                                   const std::string& query_prefix) {
    PgConn monitor = Connect(pg().SocketConnString());
    const std::string sql =
        "SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE state = 'active' AND "
        "application_name = '" +
        application_name + "' AND starts_with(query, '" + query_prefix + "')";
    int32_t pid = 0;
    PollUntil([&] { return (pid = std::stoi(ScalarString(monitor.get(), sql))) != 0; },
              DeadlineAfter(30s));
    return pid;
  }

  // Polls pgvalve's log for `text`, which may take a moment to be written.
  static bool LogEventuallyContains(const std::string& text) {
    return PollUntil([&] { return proxy().Log().find(text) != std::string::npos; },
                     DeadlineAfter(10s));
  }

  // Starts `SELECT pg_sleep(60)` on a connection made with `conninfo`,
  // cancels it with PQcancel and expects 57014 within a second of it.
  static void ExpectPqCancelWithinOneSecond(const std::string& conninfo,
                                            const std::string& application_name) {
    PgConn conn = Connect(conninfo);
    ASSERT_EQ(PQsendQuery(conn.get(), "SELECT pg_sleep(60)"), 1) << ErrorText(conn.get());
    // A cancel that arrives before the query runs is ignored by the server.
    const int32_t backend_pid = RunningBackendPid(application_name, "SELECT pg_sleep(60)");
    ASSERT_NE(backend_pid, 0) << "the query did not start";

    std::unique_ptr<PGcancel, PgCancelFreer> cancel(PQgetCancel(conn.get()));
    ASSERT_NE(cancel, nullptr);
    char error[256] = {};
    const Clock::time_point sent = Clock::now();
    ASSERT_EQ(PQcancel(cancel.get(), error, sizeof(error)), 1) << error;
    PgResult result = NextResult(conn.get(), DeadlineAfter(kHangGuard), "the cancelled query");
    const auto elapsed = Clock::now() - sent;

    ASSERT_NE(result, nullptr);
    EXPECT_EQ(PQresultStatus(result.get()), PGRES_FATAL_ERROR);
    EXPECT_EQ(SqlState(result.get()), "57014") << PQresultErrorMessage(result.get());
    EXPECT_LT(elapsed, 1s) << "the error arrived "
                           << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                           << " ms after PQcancel";
    EXPECT_EQ(NextResult(conn.get(), DeadlineAfter(kHangGuard)), nullptr);
    EXPECT_EQ(ScalarString(conn.get(), "SELECT 'usable after the cancel'"),
              "usable after the cancel");
    if (!TargetIsDirect()) {
      EXPECT_TRUE(LogEventuallyContains("forwarded to backend pid " + std::to_string(backend_pid)))
          << proxy().LogTail();
    }
  }
};

TEST_F(CancelTest, PqCancelStopsARunningQueryWithinOneSecond) {
  ExpectPqCancelWithinOneSecond(
      ProxyConnString("postgres", kSuperuser, "application_name=cancel_tcp"), "cancel_tcp");
}

TEST_F(CancelTest, PqCancelWorksOverTheUnixSocket) {
  // libpq sends the CancelRequest the way it connected: to the socket file.
  ExpectPqCancelWithinOneSecond(
      ProxySocketConnString("postgres", kSuperuser, "application_name=cancel_unix"), "cancel_unix");
}

TEST_F(CancelTest, CancelWithAWrongSecretChangesNothing) {
  PgConn conn = Connect(ProxyConnString("postgres", kSuperuser, "application_name=cancel_wrong"));
  const int32_t pid = PQbackendPID(conn.get());
  ASSERT_EQ(PQsendQuery(conn.get(), "SELECT pg_sleep(2), 'survived'"), 1) << ErrorText(conn.get());
  ASSERT_NE(0, RunningBackendPid("cancel_wrong", "SELECT pg_sleep(2)"));

  // The right pid with a made-up secret. The chance that a CSPRNG secret
  // equals it is 2^-32.
  RawConnection canceller = RawConnection::ConnectTcp(ProxyPort());
  canceller.Send(CancelRequestPacket(pid, std::string("\x5a\xa5\x3c\xc3", 4)));
  // Dropped without an answer: the connection is simply closed.
  EXPECT_TRUE(canceller.WaitForClose(DeadlineAfter(10s)));

  PgResult result = NextResult(conn.get(), DeadlineAfter(kHangGuard), "the query");
  ASSERT_NE(result, nullptr);
  ASSERT_EQ(PQresultStatus(result.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(result.get());
  EXPECT_STREQ(PQgetvalue(result.get(), 0, 1), "survived");
  EXPECT_EQ(NextResult(conn.get(), DeadlineAfter(kHangGuard)), nullptr);
  if (!TargetIsDirect()) {
    EXPECT_TRUE(LogEventuallyContains("for pid " + std::to_string(pid) + " ignored"))
        << proxy().LogTail();
  }
}

TEST_F(CancelTest, CancelNeedsEveryBitOfTheSecret) {
  RawConnection session = RawConnection::ConnectTcp(ProxyPort());
  std::optional<CancelKey> key = FindBackendKey(session.Start({{"user", std::string(kSuperuser)},
                                                               {"database", "postgres"},
                                                               {"application_name", "cancel_bits"}},
                                                              DeadlineAfter(30s)));
  ASSERT_TRUE(key.has_value()) << "no BackendKeyData at startup";
  ASSERT_FALSE(key->secret.empty());

  std::vector<std::pair<int32_t, std::string>> wrong_keys;
  for (size_t byte : {size_t{0}, key->secret.size() - 1}) {
    for (int bit : {0, 7}) {
      std::string secret = key->secret;
      secret[byte] = static_cast<char>(secret[byte] ^ (1 << bit));
      wrong_keys.emplace_back(key->pid, secret);
    }
  }
  wrong_keys.emplace_back(key->pid ^ 1, key->secret);

  // While a query runs, each near miss is dropped...
  session.Send(QueryMessage("SELECT pg_sleep(2), 'survived'"));
  ASSERT_NE(0, RunningBackendPid("cancel_bits", "SELECT pg_sleep(2)"));
  for (const auto& [pid, secret] : wrong_keys) {
    RawConnection canceller = RawConnection::ConnectTcp(ProxyPort());
    canceller.Send(CancelRequestPacket(pid, secret));
    EXPECT_TRUE(canceller.WaitForClose(DeadlineAfter(10s)));
  }
  std::vector<BackendMessage> replies = session.ReadUntilReady(DeadlineAfter(kHangGuard));
  EXPECT_EQ(TagsOf(replies), "TDCZ") << FirstError(replies)['M'];

  // ...and the exact key, sent the same way, does cancel: the near misses
  // failed for their secret, not for the packet's format.
  session.Send(QueryMessage("SELECT pg_sleep(60)"));
  ASSERT_NE(0, RunningBackendPid("cancel_bits", "SELECT pg_sleep(60)"));
  RawConnection canceller = RawConnection::ConnectTcp(ProxyPort());
  canceller.Send(CancelRequestPacket(key->pid, key->secret));
  EXPECT_TRUE(canceller.WaitForClose(DeadlineAfter(10s)));
  std::vector<BackendMessage> cancelled = session.ReadUntilReady(DeadlineAfter(kHangGuard));
  EXPECT_EQ(FirstError(cancelled)['C'], "57014") << TagsOf(cancelled);
}

TEST_F(CancelTest, ClientIsGivenAVirtualPid) {
  if (TargetIsDirect()) GTEST_SKIP() << "PostgreSQL hands out its real pids";
  PgConn conn = Connect(ProxyConnString());
  const int32_t seen = PQbackendPID(conn.get());
  const std::string real = ScalarString(conn.get(), "SELECT pg_backend_pid()");
  EXPECT_NE(std::to_string(seen), real);
  EXPECT_GE(seen, kFirstVirtualPid);
}

// A flood of bogus cancel requests is logged as a few lines and a count,
// not as one line each. Its own pgvalve, so that no other test's requests
// share the rate limit.
TEST_F(CancelTest, AFloodOfBogusCancelRequestsIsSummarisedInTheLog) {
  if (TargetIsDirect()) GTEST_SKIP() << "PostgreSQL does not log bogus cancel requests";
  PgvalveProcess flooded(StandardPgvalveArgs(pg()));
  constexpr int kRequests = 2000;
  const std::string secret("\x01\x02\x03\x04", 4);
  for (int i = 0; i < kRequests; ++i) {
    RawConnection canceller = RawConnection::ConnectTcp(flooded.port());
    canceller.Send(CancelRequestPacket(kFirstVirtualPid + 12345 + i, secret));
    // One at a time: each must reach the cancel path, none the startup
    // bound.
    ASSERT_TRUE(canceller.WaitForClose(DeadlineAfter(10s))) << i;
  }

  // Every request is accounted for: logged in full or counted in a
  // summary, which comes once the limiter's interval is over.
  const std::regex summary(R"((\d+) more ignored cancel requests \(unknown pid or wrong secret\) suppressed)");
  size_t full_lines = 0;
  uint64_t summarised = 0;
  const bool all_counted = PollUntil(
      [&] {
        const std::string log = flooded.Log();
        full_lines = CountLines(log, "ignored: unknown pid or wrong secret");
        summarised = 0;
        for (std::sregex_iterator it(log.begin(), log.end(), summary), end; it != end; ++it) {
          summarised += std::stoull((*it)[1]);
        }
        return full_lines + summarised >= kRequests;
      },
      DeadlineAfter(60s));
  EXPECT_TRUE(all_counted) << full_lines << " lines, " << summarised << " summarised\n"
                           << flooded.LogTail();
  EXPECT_EQ(full_lines + summarised, static_cast<uint64_t>(kRequests));
  // Ten lines per ten-second interval; the flood spans a few at most.
  EXPECT_LE(full_lines, 50u) << flooded.LogTail();
  EXPECT_EQ(flooded.StopAndCheck(), "");
}

}  // namespace
}  // namespace pgvalve::test
