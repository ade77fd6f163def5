#include "tests/support/replication.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "tests/support/libpq_helpers.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace pgvalve::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

milliseconds Remaining(Clock::time_point deadline) {
  return std::max(milliseconds(0),
                  std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
}

// An LSN that follows everything committed on `server` so far, flushed so
// that walsenders may send it at once. The message is transactional so
// that its commit, synchronous here whatever the server's default, flushes
// it: a non-transactional one waits in the WAL buffers for someone else's
// flush, which an idle server may not do for seconds.
std::string WalMarker(const PgServer& server) {
  return server.QueryScalar(
      "SET synchronous_commit = on;"
      "SELECT pg_logical_emit_message(true, 'pgvalve_test', 'catch-up')");
}

// Runs `step`, adding `other`'s log to the message of a runtime_error: a
// replication failure is often explained on the other side.
template <typename Step>
void WithOtherLog(const PgServer& other, std::string_view other_name, Step step) {
  try {
    step();
  } catch (const std::runtime_error& error) {
    throw std::runtime_error(std::string(error.what()) + "\n" + std::string(other_name) +
                             "'s log:\n" + other.LogTail());
  }
}

bool DatabaseExists(const PgServer& server, std::string_view database) {
  return server.QueryScalar("SELECT count(*) FROM pg_database WHERE datname = " +
                            QuoteLiteral(database)) != "0";
}

void CheckSucceeded(const CommandResult& result, std::string_view what) {
  if (!result.Succeeded()) {
    throw std::runtime_error("SetUpLogicalReplication: " + std::string(what) + " " +
                             DescribeWaitStatus(result.wait_status) + ":\n" + result.output);
  }
}

// pg_dump's SQL file, then psql with it: RunCommand has no pipe, and a
// file keeps pg_dump's warnings out of the SQL.
void CopySchema(const PgServer& source, const PgServer& target, std::string_view database) {
  TempDir work("pgvalve-schema");
  const std::string dump = work.path() + "/schema.sql";
  CheckSucceeded(RunCommand({PgServer::BinPath("pg_dump"), "--schema-only", "--no-publications",
                             "--no-subscriptions", "-f", dump, "-d",
                             source.SocketConnString(database)}),
                 "pg_dump");
  CheckSucceeded(RunCommand({PgServer::BinPath("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f",
                             dump, "-d", target.SocketConnString(database)}),
                 "psql");
}

}  // namespace

void WaitForReplayCatchUp(const PgServer& primary, const PgServer& standby,
                          milliseconds timeout) {
  const std::string marker = WalMarker(primary);
  WithOtherLog(primary, "primary", [&] {
    standby.WaitUntilTrue("SELECT pg_last_wal_replay_lsn() >= " + QuoteLiteral(marker) + "::pg_lsn",
                          timeout);
  });
}

void SetUpLogicalReplication(const PgServer& source, const PgServer& target,
                             std::string_view database, std::string_view publication,
                             std::string_view subscription) {
  const std::string wal_level = source.QueryScalar("SHOW wal_level");
  if (wal_level != "logical") {
    throw std::invalid_argument("SetUpLogicalReplication: the source has wal_level = " +
                                wal_level + "; give it Options::wal_level = \"logical\"");
  }
  const auto deadline = Clock::now() + kReplicationTimeout;

  if (!DatabaseExists(target, database)) {
    target.CreateDatabase(database);
    CopySchema(source, target, database);
  }
  source.RunSql("CREATE PUBLICATION " + QuoteIdentifier(publication) + " FOR ALL TABLES",
                database);
  // Over TCP, as from another host. Alone in its query string: with its
  // slot, CREATE SUBSCRIPTION cannot run in a transaction block.
  target.RunSql("CREATE SUBSCRIPTION " + QuoteIdentifier(subscription) + " CONNECTION " +
                    QuoteLiteral(source.ConnString(database)) + " PUBLICATION " +
                    QuoteIdentifier(publication),
                database);

  // Each table is copied by a sync worker, then handed to the apply worker
  // ('s' to 'r'); tables are listed from CREATE SUBSCRIPTION on.
  WithOtherLog(source, "source", [&] {
    target.WaitUntilTrue(
        "SELECT count(*) = 0 FROM pg_subscription_rel r"
        " JOIN pg_subscription s ON s.oid = r.srsubid"
        " WHERE s.subname = " + QuoteLiteral(subscription) + " AND r.srsubstate <> 'r'",
        Remaining(deadline), database);
  });
  WithOtherLog(target, "target", [&] {
    source.WaitUntilTrue(
        "SELECT EXISTS (SELECT FROM pg_stat_replication WHERE application_name = " +
            QuoteLiteral(subscription) + " AND state = 'streaming')",
        Remaining(deadline));
  });
}

void WaitForSubscriptionCatchUp(const PgServer& source, std::string_view subscription,
                                milliseconds timeout) {
  const std::string marker = WalMarker(source);
  // The apply worker reports what it received and applied; its walsender
  // shows that as replay_lsn.
  source.WaitUntilTrue(
      "SELECT coalesce(bool_or(replay_lsn >= " + QuoteLiteral(marker) +
          "::pg_lsn), false) FROM pg_stat_replication WHERE application_name = " +
          QuoteLiteral(subscription),
      timeout);
}

}  // namespace pgvalve::test
