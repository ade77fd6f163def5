// PostgreSQL failing under pgvalve, each test on a server of its own: a
// backend killed mid-query (the postmaster's crash recovery takes every
// session down), an immediate shutdown and restart, a postmaster that
// stops answering (SIGSTOP) and comes back. In every case pgvalve must end
// the sessions that lost their backend, answer new clients within a bound,
// serve them again once PostgreSQL does, and keep no stale session.

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <fstream>
#include <future>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "tests/e2e/fault_test_support.h"

namespace pgvalve::test {
namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

// No attempt to connect may take longer than this while the server is
// down or recovering; pgvalve must answer, not leave the client waiting.
constexpr auto kAttemptBound = 10s;

// Backends that run pg_sleep right now.
std::string SleepingCondition() {
  return "state = 'active' AND query LIKE 'SELECT pg_sleep%'";
}

// Connects through pgvalve until it works, recording how each failed
// attempt ended. Fails the test if an attempt takes longer than
// kAttemptBound.
PgConn ConnectOnceServed(const FaultPgvalve& pgvalve, Deadline deadline,
                         std::set<std::string>& refusals) {
  PgConn served;
  PollUntil(
      [&] {
        const auto started = steady_clock::now();
        ConnectOutcome attempt =
            TryConnect(pgvalve.ClientConnString("postgres", "application_name=after"));
        if (attempt.ok()) {
          served = std::move(attempt.conn);
          return true;
        }
        EXPECT_LT(steady_clock::now() - started, kAttemptBound)
            << "a connection attempt hung: " << attempt.error;
        refusals.insert(attempt.sqlstate.empty() ? attempt.error : attempt.sqlstate);
        return false;
      },
      deadline);
  return served;
}

// How the line of `conn`'s backend in ShowBackends() ends: ":pid\n".
std::string BackendLine(PGconn* conn) {
  return ":" + std::to_string(BackendPid(conn)) + "\n";
}

std::string Join(const std::set<std::string>& texts) {
  std::string joined;
  for (const std::string& text : texts) joined += (joined.empty() ? "" : " | ") + text;
  return joined;
}

// One-letter state of process `pid` from /proc/PID/stat ('T' when stopped).
char ProcessState(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t end_of_name = text.rfind(')');
  return end_of_name == std::string::npos || end_of_name + 2 >= text.size()
             ? '?'
             : text[end_of_name + 2];
}

class ServerFaultTest : public FaultTest {};

TEST_F(ServerFaultTest, BackendKilledMidQueryEndsEverySessionThenNewOnesAreServed) {
  StartWithOwnServer({.control_connection = true});
  PgConn victim = ConnectClient("victim");
  PgConn busy = ConnectClient("busy");
  PgConn idle = ConnectClient("idle");
  const int32_t victim_pid = BackendPid(victim.get());
  // The control connection is open, and dies in the crash too.
  PgConn admin = pgvalve().ConnectAdmin();
  ASSERT_NE(ShowBackends(admin.get(), "postgres").find(BackendLine(idle.get())), std::string::npos);
  ASSERT_EQ(PQsendQuery(victim.get(), "SELECT pg_sleep(60)"), 1);
  ASSERT_EQ(PQsendQuery(busy.get(), "SELECT pg_sleep(60)"), 1);
  ASSERT_TRUE(PollUntil([&] { return ClientBackends(pg(), SleepingCondition()) == 2; },
                        DeadlineAfter(30s)));

  // The postmaster answers a backend's death by SIGKILL with crash
  // recovery: every other backend is ended as well.
  ASSERT_EQ(::kill(victim_pid, SIGKILL), 0);
  const RequestEnd victim_end = AwaitRequestEnd(victim.get(), DeadlineAfter(30s));
  EXPECT_TRUE(victim_end.ended && victim_end.connection_lost) << victim_end.Describe();
  const RequestEnd busy_end = AwaitRequestEnd(busy.get(), DeadlineAfter(30s));
  EXPECT_TRUE(busy_end.ended && busy_end.connection_lost) << busy_end.Describe();
  EXPECT_TRUE(AwaitConnectionClosed(idle.get(), DeadlineAfter(30s)))
      << "pgvalve kept an idle client open after its backend died";

  std::set<std::string> refusals;
  PgConn after = ConnectOnceServed(pgvalve(), DeadlineAfter(60s), refusals);
  ASSERT_NE(after, nullptr) << "not served within 60 s of the crash; attempts ended with: "
                            << Join(refusals) << "\nserver log:\n" << pg().LogTail();
  EXPECT_EQ(ScalarString(after.get(), "SELECT 'served'"), "served");
  // The operator's first look afterwards works: the dead control
  // connection is replaced.
  const std::string backends_after = ShowBackends(admin.get(), "postgres");
  EXPECT_NE(backends_after.find(BackendLine(after.get())), std::string::npos) << backends_after;

  // The three sessions of before the crash have left the registry.
  EXPECT_TRUE(PollUntil([&] { return RegisteredSessions(admin.get()) == 1; }, DeadlineAfter(30s)))
      << RegisteredSessions(admin.get()) << " sessions registered, 1 expected";
}

TEST_F(ServerFaultTest, ImmediateShutdownEndsSessionsAndRestartIsServed) {
  StartWithOwnServer({.control_connection = true});
  PgConn busy = ConnectClient("busy");
  PgConn idle = ConnectClient("idle");
  PgConn admin = pgvalve().ConnectAdmin();
  ASSERT_NE(ShowBackends(admin.get(), "postgres").find(BackendLine(idle.get())), std::string::npos);
  ASSERT_EQ(PQsendQuery(busy.get(), "SELECT pg_sleep(60)"), 1);
  ASSERT_TRUE(PollUntil([&] { return ClientBackends(pg(), SleepingCondition()) == 1; },
                        DeadlineAfter(30s)));

  // SIGQUIT, what `pg_ctl stop -m immediate` sends.
  pg().StopPostmaster(PgServer::StopMode::kImmediate);
  const RequestEnd busy_end = AwaitRequestEnd(busy.get(), DeadlineAfter(30s));
  EXPECT_TRUE(busy_end.ended && busy_end.connection_lost) << busy_end.Describe();
  EXPECT_TRUE(AwaitConnectionClosed(idle.get(), DeadlineAfter(30s)))
      << "pgvalve kept an idle client open after its backend died";

  // Nobody listens upstream: an immediate FATAL 08006, not a wait.
  const auto started = steady_clock::now();
  const ConnectOutcome refused = TryConnect(pgvalve().ClientConnString());
  EXPECT_LT(steady_clock::now() - started, kAttemptBound);
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.sqlstate, "08006") << refused.error;

  // Starts with crash recovery; returns once the server accepts clients.
  pg().StartPostmaster();
  std::set<std::string> refusals;
  PgConn after = ConnectOnceServed(pgvalve(), DeadlineAfter(30s), refusals);
  ASSERT_NE(after, nullptr) << "not served after the restart; attempts ended with: "
                            << Join(refusals);
  EXPECT_EQ(ScalarString(after.get(), "SELECT 'served'"), "served");
  const std::string backends_after = ShowBackends(admin.get(), "postgres");
  EXPECT_NE(backends_after.find(BackendLine(after.get())), std::string::npos) << backends_after;
  EXPECT_TRUE(PollUntil([&] { return RegisteredSessions(admin.get()) == 1; }, DeadlineAfter(30s)))
      << RegisteredSessions(admin.get()) << " sessions registered, 1 expected";
}

TEST_F(ServerFaultTest, StoppedPostmasterBoundsNewClientsByStartupTimeout) {
  // The kernel still completes TCP handshakes for a stopped postmaster, so
  // connect_timeout cannot fire; startup_timeout is what ends the wait.
  StartWithOwnServer({.startup_timeout = "2s", .connect_timeout = "1s"});
  PgConn before = ConnectClient("before");
  ASSERT_EQ(ScalarString(before.get(), "SELECT 1"), "1");

  const pid_t postmaster = pg().postmaster_pid();
  // Whatever happens below, the server must run again for its shutdown.
  struct Continue {
    pid_t pid;
    ~Continue() {
      if (pid > 0) ::kill(pid, SIGCONT);
    }
  } resume{postmaster};
  ASSERT_EQ(::kill(postmaster, SIGSTOP), 0);
  ASSERT_TRUE(PollUntil([&] { return ProcessState(postmaster) == 'T'; }, DeadlineAfter(10s)));

  // A running session needs only its backend.
  EXPECT_EQ(ScalarString(before.get(), "SELECT 'still served'"), "still served");

  struct Attempt {
    ConnectOutcome outcome;
    std::chrono::milliseconds took;
  };
  std::vector<std::future<Attempt>> attempts;
  for (int i = 0; i < 3; ++i) {
    attempts.push_back(std::async(std::launch::async, [this] {
      const auto started = steady_clock::now();
      ConnectOutcome outcome = TryConnect(pgvalve().ClientConnString());
      return Attempt{std::move(outcome), std::chrono::duration_cast<std::chrono::milliseconds>(
                                             steady_clock::now() - started)};
    }));
  }
  for (auto& future : attempts) {
    const Attempt attempt = future.get();
    EXPECT_FALSE(attempt.outcome.ok());
    EXPECT_EQ(attempt.outcome.sqlstate, "08006") << attempt.outcome.error;
    EXPECT_NE(attempt.outcome.error.find("in time"), std::string::npos) << attempt.outcome.error;
    // Bounded by startup_timeout (2 s): not earlier, and well before
    // libpq's own limit.
    EXPECT_GE(attempt.took, 1500ms);
    EXPECT_LT(attempt.took, kAttemptBound);
  }

  ASSERT_EQ(::kill(postmaster, SIGCONT), 0);
  resume.pid = -1;
  std::set<std::string> refusals;
  PgConn after = ConnectOnceServed(pgvalve(), DeadlineAfter(30s), refusals);
  ASSERT_NE(after, nullptr) << "not served after SIGCONT; attempts ended with: "
                            << Join(refusals);
  EXPECT_EQ(ScalarString(after.get(), "SELECT 'served'"), "served");
  EXPECT_EQ(ScalarString(before.get(), "SELECT 'still'"), "still");

  // The postmaster found the abandoned attempts in its listen queue when it
  // woke; their backends must not linger, nor their sessions in pgvalve.
  EXPECT_TRUE(PollUntil([&] { return ClientBackends(pg()) == 2; }, DeadlineAfter(30s)))
      << ClientBackends(pg()) << " client backends, 2 expected";
  PgConn admin = pgvalve().ConnectAdmin();
  EXPECT_TRUE(PollUntil([&] { return RegisteredSessions(admin.get()) == 2; }, DeadlineAfter(30s)))
      << RegisteredSessions(admin.get()) << " sessions registered, 2 expected";
}

}  // namespace
}  // namespace pgvalve::test
