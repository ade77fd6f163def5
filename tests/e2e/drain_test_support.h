#pragma once
// Support for DRAIN's end-to-end tests, on top of the admin console's
// (admin_test_support.h): client sessions put into a known state (idle, in
// an open transaction, running a long statement), ways to watch how each
// one's connection ends without blocking on libpq, and readers for DRAIN's
// report, SHOW DRAINS and pg_stat_activity.

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/e2e/admin_test_support.h"

namespace pgvalve::test {

// One session a drain is expected to deal with: its connection, what it
// receives while no request runs (a FATAL sent to an idle session lands
// there) and the pid of its backend on PostgreSQL.
struct DrainedSession {
  PgConn conn;
  std::unique_ptr<NoticeLog> notices;
  int32_t backend_pid = 0;

  PGconn* get() const { return conn.get(); }
  // A FATAL with `sqlstate` reached the notice receiver.
  bool ReceivedFatal(std::string_view sqlstate) const;
  // The notices received, one per line, for failure messages.
  std::string DescribeNotices() const;
};

// Connects with `conninfo`; throws PgError when that fails.
DrainedSession OpenSession(const std::string& conninfo);

// Sends `sql` without waiting for its answer; throws PgError if it cannot.
void SendQuery(PGconn* conn, const std::string& sql);

// The answer to the request in flight: its first error, or its last result
// when none failed. Nothing when `timeout` passes first. Never blocks in
// libpq, so a connection nobody answers cannot hang the test.
std::optional<QueryOutcome> AwaitOutcome(PGconn* conn, std::chrono::milliseconds timeout);

// Reads from a connection with no request in flight until the server side
// closes it; false when it is still open after `timeout`. An ErrorResponse
// that arrives meanwhile goes to the connection's notice receiver.
bool AwaitClosed(PGconn* conn, std::chrono::milliseconds timeout);

// Rows of pg_stat_activity on `database`, asked on `direct` (not on it).
int ActivityCount(PGconn* direct, std::string_view database);
// Waits until `count` backends on `database` run a statement starting with
// `query_prefix`.
bool WaitForActiveQueries(PGconn* direct, std::string_view database, std::string_view query_prefix,
                          int count);

// SHOW DRAINS' most recent row for `database`, if any.
std::optional<std::map<std::string, std::string>> LatestDrainOf(PGconn* admin,
                                                                std::string_view database);
// SHOW DRAINS' row of job `job_id`, if any.
std::optional<std::map<std::string, std::string>> DrainById(PGconn* admin, std::string_view job_id);
// Waits until SHOW DRAINS has a job of `database` in `phase`; returns its
// row.
std::optional<std::map<std::string, std::string>> WaitForDrainPhase(PGconn* admin,
                                                                    std::string_view database,
                                                                    std::string_view phase);

// The report row (DRAIN, SHOW DRAIN) of the backend with this pid.
std::optional<size_t> ReportRowOf(const ResultTable& report, int32_t backend_pid);
// "outcome" of that row, "<no row>" without one.
std::string OutcomeOf(const ResultTable& report, int32_t backend_pid);
// How many rows have each outcome.
std::map<std::string, int> CountOutcomes(const ResultTable& report);

// Seconds between two points, for messages and bounds.
double SecondsBetween(std::chrono::steady_clock::time_point from,
                      std::chrono::steady_clock::time_point to);

// The fixture of the drain tests: the admin console's, plus sessions made
// on the shared pgvalve or straight to PostgreSQL.
class DrainTest : public AdminConsoleTest {
 protected:
  // Through pgvalve.
  static DrainedSession OpenIdle(std::string_view database, std::string_view user = kSuperuser);
  // BEGIN, then `statement` (an INSERT, say), left open.
  static DrainedSession OpenInTransaction(std::string_view database, const std::string& statement,
                                          std::string_view user = kSuperuser);
  // Sends `SELECT pg_sleep(600)` and does not wait; see WaitForActiveQueries.
  static DrainedSession OpenSleeper(std::string_view database, std::string_view user = kSuperuser);
  // Straight to PostgreSQL, idle.
  static DrainedSession OpenDirect(std::string_view database, std::string_view user = kSuperuser);
};

inline constexpr std::string_view kSleepQuery = "SELECT pg_sleep(600)";

}  // namespace pgvalve::test
