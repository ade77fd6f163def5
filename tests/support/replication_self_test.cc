// Tests of the harness's replication: a streaming standby made with
// PgServer::StandbyOf, its promotion, and logical replication between two
// clusters. Each test starts two real clusters.

#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/libpq_helpers.h"
#include "tests/support/log_file.h"
#include "tests/support/pg_server.h"
#include "tests/support/replication.h"

namespace pgvalve::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class StandbyTest : public ::testing::Test {
 protected:
  PgServer primary_;
  PgServer standby_{PgServer::StandbyOf{primary_}};
};

TEST_F(StandbyTest, StreamsFromItsPrimaryAndIsInRecovery) {
  EXPECT_TRUE(standby_.IsInRecovery());
  EXPECT_FALSE(primary_.IsInRecovery());
  EXPECT_EQ(primary_.QueryScalar("SELECT count(*) FROM pg_stat_replication"
                                 " WHERE state = 'streaming'"),
            "1");
  // Over TCP to the primary's port, as pg_basebackup -R wrote it.
  EXPECT_EQ(standby_.QueryScalar("SELECT sender_host || ':' || sender_port"
                                 " FROM pg_stat_wal_receiver"),
            primary_.Upstream());

  // Its own port and socket dir, not the ones the base backup copied.
  EXPECT_NE(standby_.port(), primary_.port());
  EXPECT_EQ(standby_.QueryScalar("SHOW port"), std::to_string(standby_.port()));
  EXPECT_EQ(standby_.QueryScalar("SHOW unix_socket_directories"), standby_.socket_dir());
  EXPECT_EQ(standby_.QueryScalar("SHOW hot_standby"), "on");

  // The roles came with the data.
  PgConn app = Connect(standby_.ConnString("postgres", kAppUser));
  EXPECT_EQ(ScalarString(app.get(), "SELECT current_user"), kAppUser);
}

TEST_F(StandbyTest, ReplaysWhatThePrimaryCommitted) {
  primary_.RunSql("CREATE TABLE t (v int); INSERT INTO t VALUES (41), (1)");
  WaitForReplayCatchUp(primary_, standby_);
  EXPECT_EQ(standby_.QueryScalar("SELECT sum(v) FROM t"), "42");

  try {
    standby_.RunSql("INSERT INTO t VALUES (0)");
    FAIL() << "a standby accepted a write";
  } catch (const PgError& error) {
    EXPECT_EQ(error.sqlstate(), "25006");  // read_only_sql_transaction
  }
}

TEST_F(StandbyTest, PromotionMakesItWritable) {
  primary_.RunSql("CREATE TABLE t (v int); INSERT INTO t VALUES (1)");
  WaitForReplayCatchUp(primary_, standby_);

  // pg_promote waits (up to 60 s) until the standby has become a primary.
  EXPECT_EQ(standby_.QueryScalar("SELECT pg_promote()"), "t");
  EXPECT_FALSE(standby_.IsInRecovery());
  standby_.RunSql("INSERT INTO t VALUES (2)");
  EXPECT_EQ(standby_.QueryScalar("SELECT sum(v) FROM t"), "3");
  EXPECT_EQ(primary_.QueryScalar("SELECT sum(v) FROM t"), "1");
}

TEST(StandbyOptionsTest, OwnOptionsApplyOnTopOfThePrimarysConfig) {
  PgServer::Options primary_options;
  primary_options.max_connections = 200;
  primary_options.extra_settings = {"application_name = 'from_primary'",
                                    "work_mem = '8MB'"};
  PgServer primary(primary_options);

  PgServer::Options too_few;
  too_few.max_connections = 100;
  EXPECT_THROW(PgServer(PgServer::StandbyOf{primary}, too_few), std::invalid_argument);

  PgServer::Options standby_options;
  standby_options.extra_settings = {"work_mem = '16MB'"};
  PgServer standby(PgServer::StandbyOf{primary}, standby_options);
  EXPECT_EQ(standby.QueryScalar("SHOW application_name"), "from_primary");
  EXPECT_EQ(standby.QueryScalar("SHOW work_mem"), "16MB");
  EXPECT_EQ(standby.QueryScalar("SHOW max_connections"), "300");
}

// Whether `pid` is gone: no such process, or a zombie nobody reaped yet.
bool ProcessIsGone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string fields;
  std::getline(stat, fields);
  // "pid (comm) S ...": the state follows the last ')'.
  const size_t paren = fields.rfind(')');
  return paren != std::string::npos && fields.substr(paren + 2, 1) == "Z";
}

TEST(StandbyLifetimeTest, DiesWithTheProcessThatStartedIt) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Dies without running a destructor, as a crashed test binary would.
    ::close(fds[0]);
    std::ostringstream report;
    try {
      PgServer primary;
      PgServer standby(PgServer::StandbyOf{primary});
      report << primary.postmaster_pid() << " " << primary.socket_dir() << "\n"
             << standby.postmaster_pid() << " " << standby.socket_dir() << "\n";
    } catch (const std::exception& error) {
      report << "error " << error.what() << "\n";
    }
    const std::string text = report.str();
    (void)!::write(fds[1], text.data(), text.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof(buffer))) > 0;) text.append(buffer, n);
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_THAT(text, Not(HasSubstr("error"))) << text;

  std::istringstream lines(text);
  pid_t pid;
  std::string dir;
  int servers = 0;
  while (lines >> pid >> dir) {
    ++servers;
    const auto deadline = std::chrono::steady_clock::now() + kReplicationTimeout;
    while (!ProcessIsGone(pid) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(ProcessIsGone(pid)) << "postmaster " << pid << " outlived its parent; log:\n"
                                    << TailOfFile(dir + "/postgresql.log", 20);
    std::filesystem::remove_all(dir);
  }
  EXPECT_EQ(servers, 2) << text;
}

PgServer::Options LogicalSource() {
  PgServer::Options options;
  options.wal_level = "logical";
  return options;
}

TEST(LogicalReplicationTest, CarriesRowsCommittedBeforeAndAfterSetUp) {
  PgServer source(LogicalSource());
  PgServer target;
  source.CreateDatabase("app");
  // history has no primary key, like pgbench_history: inserts only.
  source.RunSql(
      "CREATE TABLE accounts (id int PRIMARY KEY, balance int);"
      "CREATE TABLE history (delta int);"
      "INSERT INTO accounts VALUES (1, 100)",
      "app");

  SetUpLogicalReplication(source, target, "app");
  EXPECT_EQ(target.QueryScalar("SELECT balance FROM accounts WHERE id = 1", "app"), "100");
  EXPECT_EQ(source.QueryScalar("SELECT count(*) FROM pg_replication_slots"
                               " WHERE slot_name = 'cutover_sub'"),
            "1");

  source.RunSql(
      "INSERT INTO accounts VALUES (2, 200);"
      "UPDATE accounts SET balance = 150 WHERE id = 1;"
      "INSERT INTO history VALUES (50), (-50)",
      "app");
  WaitForSubscriptionCatchUp(source);
  EXPECT_EQ(target.QueryScalar(
                "SELECT string_agg(id || ':' || balance, ',' ORDER BY id) FROM accounts", "app"),
            "1:150,2:200");
  EXPECT_EQ(target.QueryScalar("SELECT count(*) FROM history", "app"), "2");
}

TEST(LogicalReplicationTest, NeedsALogicalSource) {
  PgServer server;
  try {
    SetUpLogicalReplication(server, server, "postgres");
    FAIL() << "a source with wal_level = replica was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr("wal_level = replica"));
  }
}

}  // namespace
}  // namespace pgvalve::test
