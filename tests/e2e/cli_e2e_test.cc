// pgvalve as command-line tools and systemd see it: psql over the unix
// socket, the error a client gets when the upstream cannot be reached, and
// the sd_notify messages of a Type=notify service.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/e2e_environment.h"
#include "tests/support/free_port.h"
#include "tests/support/libpq_helpers.h"
#include "tests/support/pgvalve_process.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

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

// A datagram socket standing in for systemd's $NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
      throw std::runtime_error("cannot bind " + path_ + ": " + std::strerror(errno));
    }
    // A message that never comes fails the test instead of hanging it.
    timeval timeout{.tv_sec = 10, .tv_usec = 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }
  ~NotifySocket() { close(fd_); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  const std::string& path() const { return path_; }
  // The next message, or "<none>" after 10 s.
  std::string Next() const {
    std::array<char, 4096> message;
    const ssize_t received = recv(fd_, message.data(), message.size(), 0);
    return received < 0 ? "<none>" : std::string(message.data(), static_cast<size_t>(received));
  }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST_F(CliTest, TellsSystemdWhenReadyReloadingAndStopping) {
  if (TargetIsDirect()) GTEST_SKIP() << "only pgvalve is a service";
  TempDir dir("pgvalve-notify");
  NotifySocket systemd(dir.path() + "/notify");
  const PgvalveArgs args = StandardPgvalveArgs(pg());
  std::vector<std::string> argv = {"NOTIFY_SOCKET=" + systemd.path(), PgvalveProcess::BinaryPath()};
  for (const std::string& arg : args.ToArgv()) argv.push_back(arg);
  PgvalveProcess pgvalve("/usr/bin/env", argv, args.listen_port);

  EXPECT_EQ(systemd.Next(), "READY=1\nSTATUS=accepting connections") << pgvalve.LogTail();

  pgvalve.Signal(SIGHUP);
  const std::string reloading = systemd.Next();
  EXPECT_TRUE(reloading.starts_with("RELOADING=1\nMONOTONIC_USEC=")) << reloading;
  EXPECT_GT(std::stoull(reloading.substr(reloading.find('=', 12) + 1)), 0u) << reloading;
  EXPECT_EQ(systemd.Next(), "READY=1\nSTATUS=configuration reloaded") << pgvalve.LogTail();

  pgvalve.Signal(SIGTERM);
  EXPECT_EQ(systemd.Next(), "STOPPING=1\nSTATUS=smart shutdown: waiting for sessions to end");
  EXPECT_EQ(pgvalve.StopAndCheck(), "");
}

}  // namespace
}  // namespace pgvalve::test
