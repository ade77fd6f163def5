// pgvalve as command-line tools see it: psql over the unix socket, and the
// error a client gets when the upstream cannot be reached.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "tests/support/e2e_environment.h"
#include "tests/support/free_port.h"
#include "tests/support/libpq_helpers.h"
#include "tests/support/pgvalve_process.h"
#include "tests/support/subprocess.h"

namespace pgvalve::test {
namespace {

class CliTest : public ProxiedPostgresTest {
 protected:
  // psql without ~/.psqlrc against `host` (a directory for the unix socket)
  // and `port`, running `command`, with any extra options before it.
  static CommandResult Psql(const std::string& host, uint16_t port, const std::string& command,
                            const std::vector<std::string>& options = {}) {
    std::vector<std::string> argv = {PgServer::BinPath("psql"), "-X"};
    argv.insert(argv.end(), {"-h", host, "-p", std::to_string(port)});
    argv.insert(argv.end(), {"-U", std::string(kSuperuser), "-d", "postgres"});
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), {"-c", command});
    return RunCommand(argv);
  }
};

TEST_F(CliTest, PsqlWorksOverTheUnixSocket) {
  CommandResult table = Psql(ProxySocketDir(), ProxyPort(), "select 42");
  ASSERT_TRUE(table.Succeeded()) << DescribeWaitStatus(table.wait_status) << "\n" << table.output;
  EXPECT_NE(table.output.find("42"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("(1 row)"), std::string::npos) << table.output;

  CommandResult bare = Psql(ProxySocketDir(), ProxyPort(), "select 42", {"-A", "-t"});
  ASSERT_TRUE(bare.Succeeded()) << bare.output;
  EXPECT_EQ(bare.output, "42\n");

  CommandResult conninfo = Psql(ProxySocketDir(), ProxyPort(), "\\conninfo");
  ASSERT_TRUE(conninfo.Succeeded()) << conninfo.output;
  EXPECT_NE(conninfo.output.find("via socket in \"" + ProxySocketDir() + "\""), std::string::npos)
      << conninfo.output;
}

TEST_F(CliTest, UnreachableUpstreamIsReportedClearly) {
  if (TargetIsDirect()) GTEST_SKIP() << "only pgvalve has an upstream";
  PgvalveArgs args = StandardPgvalveArgs(pg());
  // Free a moment ago and nobody is told to listen on it.
  const uint16_t dead_port = FreeTcpPort();
  const std::string upstream = "127.0.0.1:" + std::to_string(dead_port);
  args.upstream = upstream;
  PgvalveProcess orphan(args);

  ConnectOutcome outcome = TryConnect("host=127.0.0.1 port=" + std::to_string(args.listen_port) +
                                      " dbname=postgres user=postgres");
  EXPECT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.sqlstate, "08006") << outcome.error;
  EXPECT_NE(outcome.error.find(upstream), std::string::npos) << outcome.error;
  EXPECT_NE(outcome.error.find("Connection refused"), std::string::npos) << outcome.error;

  // psql shows the same reason and exits with 2, "connection failed".
  CommandResult psql = Psql("127.0.0.1", args.listen_port, "select 1");
  EXPECT_TRUE(WIFEXITED(psql.wait_status) && WEXITSTATUS(psql.wait_status) == 2)
      << DescribeWaitStatus(psql.wait_status) << "\n"
      << psql.output;
  EXPECT_NE(psql.output.find("Connection refused"), std::string::npos) << psql.output;

  EXPECT_EQ(orphan.StopAndCheck(), "");
}

}  // namespace
}  // namespace pgvalve::test
