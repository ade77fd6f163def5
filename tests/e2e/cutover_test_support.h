#pragma once
// Support for CUTOVER's end-to-end tests, on top of the admin console's
// and DRAIN's (sessions watched without blocking on libpq). Every test
// gets servers of its own, since a cutover that completes promotes the
// standby: blue, a primary with database app and table t, and green, its
// streaming standby, made after whatever the test puts on blue first; and
// a pgvalve of its own with upstreams blue and green (control_user
// postgres on both) routing app, and only app, to blue.

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/e2e/admin_test_support.h"
#include "tests/e2e/drain_test_support.h"
#include "tests/support/pg_server.h"

namespace pgvalve::test {

inline constexpr std::string_view kApp = "app";

// Table t of app: one row per write, with the port of the server that took
// it over TCP (a row replayed on green keeps blue's port; NULL over the
// unix socket).
inline constexpr std::string_view kTableT =
    "CREATE TABLE t (client int NOT NULL, n bigint NOT NULL, "
    "server_port int DEFAULT inet_server_port())";

// One SHOW CUTOVERS row, by column name.
using CutoverRow = std::map<std::string, std::string>;

class CutoverTest : public ::testing::Test {
 protected:
  // Makes blue with database app and table t, runs `prepare` on blue
  // (green gets what it made through its base backup), then green and
  // pgvalve. Throws when one of them does not start.
  void StartServers(const std::function<void(const PgServer&)>& prepare = {});
  // The same for MODE LOGICAL: blue with wal_level = logical, then green a
  // primary of its own subscribed to app on blue (publication cutover_pub,
  // subscription cutover_sub), with every table's initial copy done.
  void StartLogicalServers(const std::function<void(const PgServer&)>& prepare = {});
  // Stops pgvalve: a crash, an unclean exit or a sanitizer report fails
  // the test. A failed test gets pgvalve's log.
  void TearDown() override;

  PgServer& blue() { return *blue_; }
  PgServer& green() { return *green_; }
  AdminPgvalve& pgvalve() { return *pgvalve_; }
  // pgvalve's /metrics (served without credentials here).
  std::string MetricsPage() const;

  // app through pgvalve; the admin console as admin. Throw PgError.
  std::string ClientConnString() const;
  PgConn ConnectClient() const;
  PgConn ConnectAdmin() const;
  // Through pgvalve, with the session's pid and a notice log.
  DrainedSession OpenClient() const;

  // Pauses green's replay and writes on blue, so that green stops short
  // of anything committed from now on; returns once green says it is
  // paused.
  void PauseReplay();
  void ResumeReplay();

 private:
  // An [http] table on a free port, remembered for MetricsPage.
  std::string HttpToml();

  std::unique_ptr<PgServer> blue_;
  std::unique_ptr<PgServer> green_;
  std::unique_ptr<AdminPgvalve> pgvalve_;
  uint16_t http_port_ = 0;
};

// inet_server_port(), asked through the session.
int ServerPort(PGconn* conn);
// SHOW DATABASES' `column` for app.
std::string AppColumn(PGconn* admin, std::string_view column);

// SHOW CUTOVERS' row of cutover `id`, if any.
std::optional<CutoverRow> CutoverById(PGconn* admin, std::string_view id);
// SHOW CUTOVERS' most recent row.
std::optional<CutoverRow> LatestCutover(PGconn* admin);
// Waits (kHangGuard) until SHOW CUTOVERS' row of `id` satisfies `done`;
// the row last read, which may not, and nothing without a row.
std::optional<CutoverRow> WaitForCutover(PGconn* admin, std::string_view id,
                                         const std::function<bool(const CutoverRow&)>& done);
// The cutover id in an error message "cutover N of ..." ("" without one).
std::string CutoverIdIn(std::string_view message);

// The report row whose item is `item`.
std::optional<size_t> ReportRow(const ResultTable& report, std::string_view item);
// The number before `word` in the report's "sessions" line ("12 closed at
// ...", "1 terminated"); -1 without one.
int SessionsCount(const ResultTable& report, std::string_view word);

// One client thread of the kept-connection tests: autocommit INSERTs of
// (client, n) into `table`, n numbered from 1, on one connection; after a
// 57P01 or a broken connection it reconnects and goes on. Any other error
// ends it (`failure`).
struct Writer {
  int client = 0;
  std::string table = "t";
  std::vector<int64_t> committed;   // every n whose INSERT succeeded
  std::vector<std::string> errors;  // the errors that ended a connection
  std::string failure;              // anything else; the thread stopped there
  // From the first error to the first commit after it.
  std::optional<double> back_after_seconds;
  std::atomic<int64_t> commits{0};
  std::atomic<bool> ended{false};

  void Run(const std::string& conninfo, const std::atomic<bool>& stop);

 private:
  void Loop(const std::string& conninfo, const std::atomic<bool>& stop);
};

// `count` Writers (clients 1..count) on `table` through `conninfo`, each
// on a thread of its own; stopped and joined by Stop() or the destructor.
class WriterPool {
 public:
  WriterPool(int count, const std::string& conninfo, const std::string& table);
  ~WriterPool() { Stop(); }
  WriterPool(const WriterPool&) = delete;
  WriterPool& operator=(const WriterPool&) = delete;

  // Waits (WaitUntil) until every writer has committed `more` rows after
  // the call, or one has ended; false when the wait ran out.
  bool EachCommits(int64_t more);
  // After Stop(), a writer's vectors and strings may be read.
  void Stop();
  const std::vector<std::unique_ptr<Writer>>& writers() const { return writers_; }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<Writer>> writers_;
  std::vector<std::thread> threads_;
};

// After a cutover under a stopped pool: no writer failed (a duplicate key
// would have), each saw at most one error (its 57P01), and every row each
// was told was committed is in the pool's table on `target` exactly once.
// Prints each writer's commits and errors.
void ExpectEveryCommitOnceOn(PGconn* target, const WriterPool& pool);

// An admin command that may run for seconds, on a connection of its own
// and a thread of its own; the outcome within the hang guard.
class AdminCommand {
 public:
  AdminCommand(const std::string& conninfo, std::string sql);
  bool done() { return running_->done(); }
  // Throws std::runtime_error once the hang guard passes.
  QueryOutcome& Result() { return running_->Result(); }

 private:
  PgConn conn_;
  std::unique_ptr<Background<QueryOutcome>> running_;
};

}  // namespace pgvalve::test
