// Tests of the end-to-end harness itself, against a real PostgreSQL and a
// relay stand-in for pgvalve (fake_pgvalve.cc), so that a harness bug is
// never mistaken for a proxy bug.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>

#include "tests/support/e2e_environment.h"
#include "tests/support/free_port.h"
#include "tests/support/libpq_helpers.h"
#include "tests/support/pg_server.h"
#include "tests/support/pgvalve_process.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace pgvalve::test {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::string WithPassword(std::string_view password) {
  return "password=" + QuoteConnInfoValue(password);
}

TEST(FreeTcpPortTest, ReturnsAPortThatCanBeBound) {
  const uint16_t port = FreeTcpPort();
  ASSERT_NE(port, 0);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  EXPECT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
  ::close(fd);
}

TEST(TempDirTest, IsRemovedWithItsContents) {
  std::string path;
  {
    TempDir dir("pgvalve-selftest");
    path = dir.path();
    ASSERT_TRUE(std::filesystem::is_directory(path));
    std::filesystem::create_directory(path + "/nested");
    TempDir moved = std::move(dir);
    EXPECT_EQ(moved.path(), path);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(RunCommandTest, CapturesOutputAndStatus) {
  const CommandResult result = RunCommand({"/bin/sh", "-c", "echo out; echo err >&2; exit 4"});
  EXPECT_FALSE(result.Succeeded());
  EXPECT_EQ(DescribeWaitStatus(result.wait_status), "exited with status 4");
  EXPECT_THAT(result.output, HasSubstr("out"));
  EXPECT_THAT(result.output, HasSubstr("err"));
}

TEST(RunCommandTest, ReportsAProgramThatCannotRun) {
  const CommandResult result = RunCommand({"/nonexistent/program"});
  EXPECT_EQ(DescribeWaitStatus(result.wait_status), "exited with status 127");
  EXPECT_THAT(result.output, HasSubstr("No such file"));
}

TEST(QuotingTest, ConnInfoValuesAndIdentifiers) {
  EXPECT_EQ(QuoteConnInfoValue("plain"), "'plain'");
  EXPECT_EQ(QuoteConnInfoValue("it's a\\b"), "'it\\'s a\\\\b'");
  EXPECT_EQ(QuoteIdentifier("my\"db"), "\"my\"\"db\"");
  EXPECT_EQ(QuoteLiteral("it's a\\b"), "'it''s a\\b'");
}

class PgServerTest : public ::testing::Test {
 protected:
  PgServer server_;
};

TEST_F(PgServerTest, RunsSqlAsSuperuser) {
  server_.RunSql("CREATE TABLE t (v int); INSERT INTO t VALUES (41), (1)");
  EXPECT_EQ(server_.QueryScalar("SELECT sum(v) FROM t"), "42");
  EXPECT_EQ(server_.QueryScalar("SELECT current_user"), "postgres");
  EXPECT_EQ(server_.QueryScalar("SHOW max_connections"), "300");
  EXPECT_EQ(server_.QueryScalar("SHOW fsync"), "off");
}

TEST_F(PgServerTest, RunSqlThrowsWithTheSqlState) {
  try {
    server_.RunSql("SELEC 1");
    FAIL() << "RunSql accepted a syntax error";
  } catch (const PgError& error) {
    EXPECT_EQ(error.sqlstate(), "42601");
    EXPECT_THAT(error.what(), HasSubstr("SELEC 1"));
  }
}

TEST_F(PgServerTest, ScramUserNeedsItsPasswordOverTcp) {
  PgConn conn = Connect(server_.ConnString("postgres", kScramUser, WithPassword(kScramPassword)));
  EXPECT_EQ(ScalarString(conn.get(), "SELECT current_user"), kScramUser);
  EXPECT_THAT(server_.QueryScalar("SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_user'"),
              ::testing::StartsWith("SCRAM-SHA-256$"));

  const ConnectOutcome wrong =
      TryConnect(server_.ConnString("postgres", kScramUser, WithPassword("wrong")));
  EXPECT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.sqlstate, "28P01");
  EXPECT_THAT(wrong.error,
              HasSubstr("FATAL:  password authentication failed for user \"scram_user\""));
  EXPECT_THAT(wrong.error, Not(HasSubstr("LOCATION")));
}

TEST_F(PgServerTest, Md5UserNeedsItsPasswordOverTcp) {
  PgConn conn = Connect(server_.ConnString("postgres", kMd5User, WithPassword(kMd5Password)));
  EXPECT_EQ(ScalarString(conn.get(), "SELECT current_user"), kMd5User);
  EXPECT_THAT(server_.QueryScalar("SELECT rolpassword FROM pg_authid WHERE rolname = 'md5_user'"),
              ::testing::StartsWith("md5"));

  EXPECT_THAT(ConnectError(server_.ConnString("postgres", kMd5User, WithPassword("wrong"))),
              HasSubstr("password authentication failed for user \"md5_user\""));
}

TEST_F(PgServerTest, AppUserAndSocketConnectionsAreTrusted) {
  PgConn app = Connect(server_.ConnString("postgres", kAppUser));
  EXPECT_EQ(ScalarString(app.get(), "SELECT current_user"), kAppUser);
  ExecOk(app.get(), "CREATE TABLE owned_by_app (v int)");

  PgConn scram_on_socket = Connect(server_.SocketConnString("postgres", kScramUser));
  EXPECT_EQ(ScalarString(scram_on_socket.get(), "SELECT current_user"), kScramUser);
}

TEST_F(PgServerTest, ConnectReportsTheSqlStateOfAFailedStartup) {
  const ConnectOutcome outcome = TryConnect(server_.ConnString("no_such_db"));
  EXPECT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.sqlstate, "3D000");
  EXPECT_THAT(outcome.error, HasSubstr("database \"no_such_db\" does not exist"));
  try {
    Connect(server_.ConnString("no_such_db"));
    FAIL() << "Connect did not throw";
  } catch (const PgError& error) {
    EXPECT_EQ(error.sqlstate(), "3D000");
  }
}

TEST_F(PgServerTest, CreateDatabaseQuotesTheName) {
  server_.CreateDatabase("db with \"quotes\" and 'apostrophes'");
  PgConn conn = Connect(server_.ConnString("db with \"quotes\" and 'apostrophes'"));
  EXPECT_EQ(ScalarString(conn.get(), "SELECT current_database()"),
            "db with \"quotes\" and 'apostrophes'");
}

TEST_F(PgServerTest, ExecReturnsFailuresForInspection) {
  PgConn conn = Connect(server_.ConnString());
  PgResult result = Exec(conn.get(), "SELECT 1/0");
  EXPECT_EQ(PQresultStatus(result.get()), PGRES_FATAL_ERROR);
  EXPECT_EQ(SqlState(result.get()), "22012");
  EXPECT_THROW(ScalarString(conn.get(), "SELECT 1 WHERE false"), PgError);
}

TEST_F(PgServerTest, WaitUntilTrueReturnsOnceTheQuerySaysSo) {
  server_.RunSql("CREATE TABLE flag (v bool); INSERT INTO flag VALUES (true)");
  server_.WaitUntilTrue("SELECT v FROM flag", std::chrono::seconds(5));
  EXPECT_FALSE(server_.IsInRecovery());
}

TEST_F(PgServerTest, WaitUntilTrueThrowsWithWhatItLastSaw) {
  try {
    server_.WaitUntilTrue("SELECT 1/0 = 1", std::chrono::milliseconds(100));
    FAIL() << "a failing query was taken as true";
  } catch (const std::runtime_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("not true after 100 ms: SELECT 1/0 = 1"));
    EXPECT_THAT(error.what(), HasSubstr("division by zero"));
    EXPECT_THAT(error.what(), HasSubstr("server log:"));
  }
  EXPECT_THROW(server_.WaitUntilTrue("SELECT NULL::bool", std::chrono::milliseconds(50)),
               std::runtime_error);
}

TEST_F(PgServerTest, LogTailShowsTheServerLog) {
  EXPECT_THAT(server_.LogTail(), HasSubstr("database system is ready to accept connections"));
}

TEST_F(PgServerTest, RestartKeepsDataAndPort) {
  server_.RunSql("CREATE TABLE survives (v int); INSERT INTO survives VALUES (7)");
  const uint16_t port = server_.port();
  server_.StopPostmaster();
  EXPECT_FALSE(server_.IsRunning());
  EXPECT_THAT(ConnectError(server_.ConnString()), Not(IsEmpty()));
  server_.StartPostmaster();
  EXPECT_EQ(server_.port(), port);
  EXPECT_EQ(server_.QueryScalar("SELECT v FROM survives"), "7");
}

TEST_F(PgServerTest, StopDeletesTheCluster) {
  const std::string dir = server_.socket_dir();
  server_.Stop();
  EXPECT_FALSE(std::filesystem::exists(dir));
  server_.Stop();
}

TEST(PgServerOptionsTest, AppliesOptions) {
  PgServer::Options options;
  options.max_connections = 50;
  options.extra_settings = {"application_name = 'from_conf'"};
  PgServer server(options);
  EXPECT_EQ(server.QueryScalar("SHOW max_connections"), "50");
  EXPECT_EQ(server.QueryScalar("SHOW application_name"), "from_conf");
}

TEST(PgServerOptionsTest, StartupFailureCarriesTheServerLog) {
  PgServer::Options options;
  options.extra_settings = {"shared_buffers = 'plenty'"};
  try {
    PgServer server(options);
    FAIL() << "a server with an invalid setting started";
  } catch (const std::runtime_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("during startup"));
    EXPECT_THAT(error.what(), HasSubstr("shared_buffers"));
  }
}

class PgvalveProcessTest : public ::testing::Test {
 protected:
  PgServer server_;
  TempDir socket_dir_{"pgvalve-selftest-sock"};
};

TEST_F(PgvalveProcessTest, StartsWaitsForReadinessAndStopsCleanly) {
  PgvalveArgs args = StandardPgvalveArgs(server_, socket_dir_.path());
  PgvalveProcess process(args);
  EXPECT_TRUE(process.IsRunning());
  EXPECT_EQ(process.port(), args.listen_port);
  EXPECT_THAT(process.Log(), HasSubstr("--upstream " + server_.Upstream()));
  EXPECT_THAT(process.Log(), HasSubstr("--admin-listen 127.0.0.1:" + std::to_string(args.admin_port)));

  const std::string port = std::to_string(args.listen_port);
  PgConn tcp = Connect("host=127.0.0.1 port=" + port + " dbname=postgres user=postgres");
  EXPECT_EQ(ScalarString(tcp.get(), "SHOW port"), std::to_string(server_.port()));
  PgConn unix_socket = Connect("host=" + socket_dir_.path() + " port=" + port +
                               " dbname=postgres user=postgres");
  EXPECT_EQ(ScalarString(unix_socket.get(), "SELECT 1"), "1");

  EXPECT_EQ(process.StopAndCheck(), "");
  EXPECT_FALSE(process.IsRunning());
  EXPECT_THAT(process.Log(), HasSubstr("stopping on SIGTERM"));
}

TEST_F(PgvalveProcessTest, ExitBeforeReadyFailsWithTheLog) {
  PgvalveArgs args = StandardPgvalveArgs(server_);
  args.extra = {"--fake-fail-with", "cannot parse the config"};
  try {
    PgvalveProcess process(args);
    FAIL() << "a process that exited was reported ready";
  } catch (const std::runtime_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("exited with status 3"));
    EXPECT_THAT(error.what(), HasSubstr("cannot parse the config"));
  }
}

TEST_F(PgvalveProcessTest, NeverReadyFailsAfterTheTimeout) {
  try {
    PgvalveProcess process("/bin/sleep", {"30"}, FreeTcpPort(), "",
                           std::chrono::milliseconds(300));
    FAIL() << "a process that never listened was reported ready";
  } catch (const std::runtime_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("did not accept connections"));
  }
}

TEST_F(PgvalveProcessTest, IgnoredSigtermIsEscalatedAndReported) {
  PgvalveArgs args = StandardPgvalveArgs(server_);
  args.extra = {"--fake-ignore-sigterm"};
  PgvalveProcess process(args);
  const std::string problem = process.StopAndCheck(std::chrono::milliseconds(200));
  EXPECT_THAT(problem, HasSubstr("did not exit within 200 ms"));
  EXPECT_EQ(DescribeWaitStatus(*process.exit_status()), "killed by signal 9 (Killed)");
}

TEST_F(PgvalveProcessTest, SanitizerReportsAreFailures) {
  PgvalveArgs args = StandardPgvalveArgs(server_);
  args.extra = {"--fake-say", "==12==ERROR: AddressSanitizer: heap-use-after-free on address"};
  PgvalveProcess process(args);
  EXPECT_THAT(process.SanitizerReport(), HasSubstr("heap-use-after-free"));
  EXPECT_THAT(process.StopAndCheck(), HasSubstr("sanitizer report"));
}

TEST_F(PgvalveProcessTest, SignalAndWaitForExit) {
  PgvalveProcess process(StandardPgvalveArgs(server_));
  EXPECT_FALSE(process.WaitForExit(std::chrono::milliseconds(0)).has_value());
  process.Signal(SIGTERM);
  const std::optional<int> status = process.WaitForExit(std::chrono::seconds(5));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(DescribeWaitStatus(*status), "exited with status 0");
  EXPECT_FALSE(process.IsRunning());
}

TEST(E2eTargetTest, DirectOnlyWhenAsked) {
  const char* saved = std::getenv("PGVALVE_E2E_TARGET");
  const std::string saved_value = saved ? saved : "";
  ::setenv("PGVALVE_E2E_TARGET", "direct", 1);
  EXPECT_TRUE(ProxiedPostgresTest::TargetIsDirect());
  ::setenv("PGVALVE_E2E_TARGET", "proxy", 1);
  EXPECT_FALSE(ProxiedPostgresTest::TargetIsDirect());
  if (saved) {
    ::setenv("PGVALVE_E2E_TARGET", saved_value.c_str(), 1);
  } else {
    ::unsetenv("PGVALVE_E2E_TARGET");
  }
}

// The shared fixture, exercised through the relay stand-in (or straight
// against PostgreSQL when PGVALVE_E2E_TARGET=direct).
class SharedFixtureTest : public ProxiedPostgresTest {};

TEST_F(SharedFixtureTest, ProxyConnStringReachesTheSharedServer) {
  PgConn conn = Connect(ProxyConnString());
  EXPECT_EQ(ScalarString(conn.get(), "SHOW port"), std::to_string(pg().port()));
  if (!TargetIsDirect()) {
    EXPECT_NE(ProxyPort(), pg().port());
    EXPECT_NE(AdminPort(), 0);
    EXPECT_TRUE(proxy().IsRunning());
  }
}

TEST_F(SharedFixtureTest, UnixSocketAndPasswordsWorkThroughTheTarget) {
  PgConn socket_conn = Connect(ProxySocketConnString("postgres", kAppUser));
  EXPECT_EQ(ScalarString(socket_conn.get(), "SELECT current_user"), kAppUser);
  PgConn scram = Connect(ProxyConnString("postgres", kScramUser, WithPassword(kScramPassword)));
  EXPECT_EQ(ScalarString(scram.get(), "SELECT current_user"), kScramUser);
  EXPECT_EQ(TryConnect(ProxyConnString("postgres", kScramUser, WithPassword("no"))).sqlstate,
            "28P01");
}

TEST_F(SharedFixtureTest, DirectConnStringBypassesTheProxy) {
  PgConn conn = Connect(DirectConnString());
  EXPECT_EQ(ScalarString(conn.get(), "SELECT inet_server_port()"), std::to_string(pg().port()));
}

}  // namespace
}  // namespace pgvalve::test

int main(int argc, char** argv) {
  // Everything here that starts "pgvalve" starts the relay stand-in, so the
  // self-test does not depend on the proxy being finished or correct.
  ::setenv("PGVALVE_BINARY", FAKE_PGVALVE_PATH, 1);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
