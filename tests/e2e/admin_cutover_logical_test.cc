// CUTOVER ... MODE LOGICAL against a real publisher (blue, wal_level =
// logical) and subscriber (green, a primary of its own), each test with a
// pair and a pgvalve of its own. Logical replication carries rows, not
// sequences: after a switch without SYNC SEQUENCES an insert on green
// takes an id that a replicated row already has; with it, inserts go on
// where blue's sequence stopped.

#include <gtest/gtest.h>

#include <iostream>
#include <optional>
#include <string>

#include "tests/e2e/cutover_test_support.h"

namespace pgvalve::test {
namespace {

// Rows with ids from a sequence; the primary key is what a reused id
// collides with.
constexpr char kItems[] =
    "CREATE TABLE items (id bigserial PRIMARY KEY, client int NOT NULL, n bigint NOT NULL, "
    "server_port int DEFAULT inet_server_port())";

void CreateItems(const PgServer& blue) { blue.RunSql(kItems, std::string(kApp)); }

// The report's "direct backend pid N" lines: nothing in these tests
// bypasses pgvalve, and the job's own connection to app is not one.
std::string DirectBackendLines(const ResultTable& report) {
  std::string lines;
  for (size_t row = 0; row < report.size(); ++row) {
    if (report.Text(row, "item").rfind("direct backend pid ", 0) == 0) {
      lines += report.Text(row, "item") + ": " + report.Text(row, "detail") + "\n";
    }
  }
  return lines;
}

using CutoverLogicalTest = CutoverTest;

// Clients that keep their connections and insert rows numbered by a
// sequence while the database moves to its subscriber: each sees at most
// one error (the 57P01 of being moved), none sees a duplicate key, every
// acknowledged row is on green once, and blue takes no write after the
// switch.
TEST_F(CutoverLogicalTest, SyncSequencesLetsInsertsAfterTheSwitchGoOnWithoutCollisions) {
  constexpr int kWriters = 8;
  constexpr int64_t kCommitsAround = 20;  // before the cutover, and after it
  StartLogicalServers(CreateItems);
  PgConn admin = ConnectAdmin();
  WriterPool pool(kWriters, ClientConnString(), "items");
  ASSERT_TRUE(pool.EachCommits(kCommitsAround)) << "the writers never all got going";

  AdminCommand cutover(pgvalve().AdminConnString(),
                       "CUTOVER app TO green MODE LOGICAL SYNC SEQUENCES TIMEOUT '30s'");
  QueryOutcome& outcome = cutover.Result();
  ASSERT_TRUE(outcome.ok()) << outcome.Describe();
  std::cout << "CUTOVER's report:\n" << outcome.table.ToString();
  // Nothing reaches blue through pgvalve once the cutover has switched.
  const std::string blue_rows_at_switch = blue().QueryScalar("SELECT count(*) FROM items", kApp);
  EXPECT_TRUE(pool.EachCommits(kCommitsAround))
      << "the writers did not all go on writing after the cutover";
  pool.Stop();

  // A duplicate key (23505) on green would have ended a writer.
  PgConn on_green = Connect(green().ConnString(kApp));
  ExpectEveryCommitOnceOn(on_green.get(), pool);
  EXPECT_EQ(blue().QueryScalar("SELECT count(*) FROM items", kApp), blue_rows_at_switch);
  // Green's own inserts took ids above every replicated one.
  const std::string port = std::to_string(green().port());
  EXPECT_NE(ScalarString(on_green.get(), "SELECT count(*) FROM items WHERE server_port = " + port), "0");
  EXPECT_EQ(ScalarString(on_green.get(),
                         "SELECT min(id) FILTER (WHERE server_port = " + port +
                             ") > max(id) FILTER (WHERE server_port IS DISTINCT FROM " + port + ") FROM items"),
            "t");

  const std::optional<size_t> sequences = ReportRow(outcome.table, "step: sync sequences");
  ASSERT_TRUE(sequences) << outcome.table.ToString();
  EXPECT_EQ(outcome.table.Text(*sequences, "status"), "ok");
  const std::optional<CutoverRow> row = LatestCutover(admin.get());
  ASSERT_TRUE(row);
  EXPECT_EQ(row->at("outcome"), "completed");
  EXPECT_EQ(row->at("mode"), "LOGICAL");
  EXPECT_EQ(row->at("sequences_synced"), "1");
  EXPECT_EQ(AppColumn(admin.get(), "upstream"), "green");
}

// Without SYNC SEQUENCES the preflight warns, and the first insert on green
// collides with a replicated row: the reason the clause exists, and proof
// that the test above would see a collision.
TEST_F(CutoverLogicalTest, WithoutSyncSequencesTheFirstInsertOnGreenCollides) {
  StartLogicalServers(CreateItems);
  PgConn admin = ConnectAdmin();
  {
    PgConn client = ConnectClient();
    for (int n = 1; n <= 3; ++n) {
      ExecOk(client.get(), "INSERT INTO items (client, n) VALUES (1, " + std::to_string(n) + ")");
    }
  }
  const QueryOutcome cutover = RunQuery(admin.get(), "CUTOVER app TO green MODE LOGICAL TIMEOUT '30s'");
  ASSERT_TRUE(cutover.ok()) << cutover.Describe();
  std::cout << "CUTOVER's report:\n" << cutover.table.ToString();
  const std::optional<size_t> warning = ReportRow(cutover.table, "sequences");
  ASSERT_TRUE(warning) << cutover.table.ToString();
  EXPECT_EQ(cutover.table.Text(*warning, "status"), "warning");
  EXPECT_NE(cutover.table.Text(*warning, "detail").find("add SYNC SEQUENCES"), std::string::npos);
  EXPECT_EQ(green().QueryScalar("SELECT count(*) FROM items", kApp), "3");

  PgConn client = ConnectClient();
  EXPECT_EQ(ServerPort(client.get()), green().port());
  const QueryOutcome insert = RunQuery(client.get(), "INSERT INTO items (client, n) VALUES (1, 4)");
  EXPECT_EQ(insert.sqlstate, "23505") << insert.Describe();
}

// DRY RUN names the subscription and the sequences and changes nothing; a
// disabled subscription is refused by the preflight, and nothing is held.
TEST_F(CutoverLogicalTest, DryRunNamesTheSubscriptionAndADisabledOneIsRefused) {
  StartLogicalServers(CreateItems);
  PgConn admin = ConnectAdmin();
  {
    PgConn client = ConnectClient();
    ExecOk(client.get(), "INSERT INTO items (client, n) VALUES (1, 1)");
  }
  const QueryOutcome dry =
      RunQuery(admin.get(), "CUTOVER app TO green MODE LOGICAL SYNC SEQUENCES DRY RUN");
  ASSERT_TRUE(dry.ok()) << dry.Describe();
  std::cout << "DRY RUN's report:\n" << dry.table.ToString();
  const std::optional<size_t> subscription = ReportRow(dry.table, "subscription cutover_sub");
  ASSERT_TRUE(subscription) << dry.table.ToString();
  EXPECT_EQ(dry.table.Text(*subscription, "status"), "ok");
  EXPECT_NE(dry.table.Text(*subscription, "detail").find("through slot cutover_sub"), std::string::npos);
  const std::optional<size_t> sequences = ReportRow(dry.table, "sequences");
  ASSERT_TRUE(sequences) << dry.table.ToString();
  EXPECT_EQ(dry.table.Text(*sequences, "status"), "ok");
  EXPECT_EQ(DirectBackendLines(dry.table), "");
  EXPECT_EQ(AppColumn(admin.get(), "upstream"), "blue");
  EXPECT_EQ(AppColumn(admin.get(), "state"), "enabled");

  green().RunSql("ALTER SUBSCRIPTION cutover_sub DISABLE", kApp);
  const QueryOutcome refused = RunQuery(admin.get(), "CUTOVER app TO green MODE LOGICAL SYNC SEQUENCES");
  EXPECT_EQ(refused.sqlstate, "55000") << refused.Describe();
  EXPECT_NE(refused.message.find("no enabled subscription on target \"green\""), std::string::npos)
      << refused.Describe();
  EXPECT_NE(refused.message.find("rolled back at step \"preflight\""), std::string::npos) << refused.Describe();
  EXPECT_EQ(AppColumn(admin.get(), "upstream"), "blue");
  EXPECT_EQ(AppColumn(admin.get(), "state"), "enabled");
  PgConn client = ConnectClient();
  EXPECT_EQ(ServerPort(client.get()), blue().port());
}

}  // namespace
}  // namespace pgvalve::test
