// Connections that never finish startup, against a low file-descriptor
// limit: pgvalve raises its soft limit to the hard one, bounds the
// connections still in startup (in all and per client address), stops
// accepting clients before it runs out of descriptors, and keeps the admin
// console reachable throughout. Every test runs a pgvalve of its own.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tests/e2e/admin_test_support.h"

namespace pgvalve::test {

AdminPgvalveOptions SharedPgvalveOptions(const PgServer&) { return {}; }

namespace {

using namespace std::chrono_literals;

// A TCP connection to 127.0.0.1 that sends nothing unless told to.
// (RawConnection's header cannot be combined with the admin tests' one.)
class SilentConnection {
 public:
  // From `source`, another loopback address such as "127.0.0.2".
  SilentConnection(uint16_t port, const std::string& source) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&from), sizeof(from)) != 0 ||
        ::connect(fd_, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) != 0) {
      ::close(fd_);
      throw std::runtime_error("cannot connect from " + source);
    }
  }
  SilentConnection(SilentConnection&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  SilentConnection& operator=(SilentConnection&&) = delete;
  ~SilentConnection() {
    if (fd_ >= 0) ::close(fd_);
  }

  // True once the peer has closed the connection (EOF or reset), within
  // `timeout`.
  bool ClosedWithin(std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      char byte;
      const ssize_t got = ::recv(fd_, &byte, 1, 0);
      if (got <= 0) return true;
    }
  }

  // Sends a StartupMessage and returns the tag of the first reply ('R'
  // when authentication goes on, 'E' for an error), or 0 when the
  // connection closes or nothing comes within `timeout`.
  char Start(const std::string& user, const std::string& database,
             std::chrono::milliseconds timeout) const {
    std::string body;
    const uint32_t version = htonl(3u << 16);
    body.append(reinterpret_cast<const char*>(&version), 4);
    for (const std::string& part : {std::string("user"), user, std::string("database"), database}) {
      body.append(part).push_back('\0');
    }
    body.push_back('\0');
    const uint32_t length = htonl(static_cast<uint32_t>(body.size() + 4));
    std::string packet(reinterpret_cast<const char*>(&length), 4);
    packet += body;
    if (::send(fd_, packet.data(), packet.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(packet.size())) {
      return 0;
    }
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return 0;
    char tag = 0;
    return ::recv(fd_, &tag, 1, 0) == 1 ? tag : 0;
  }

 private:
  int fd_ = -1;
};

class FdLimitTest : public AdminConsoleTest {
 protected:
  void TearDown() override {
    AdminConsoleTest::TearDown();
    if (own_) {
      EXPECT_EQ(own_->StopAndCheck(), "");
      own_.reset();
    }
  }

  AdminPgvalve& StartOwn(AdminPgvalveOptions options) {
    own_ = std::make_unique<AdminPgvalve>(pg(), std::move(options));
    return *own_;
  }

  bool LogEventuallyContains(const std::string& text) {
    return WaitUntil([&] { return own_->process().Log().find(text) != std::string::npos; });
  }

  static void OpenSilent(std::vector<SilentConnection>& into, uint16_t port, int count,
                         const std::string& source) {
    for (int i = 0; i < count; ++i) into.emplace_back(port, source);
  }

  std::unique_ptr<AdminPgvalve> own_;
};

TEST_F(FdLimitTest, SilentConnectionsDoNotLockOutTheAdminConsole) {
  // A soft limit of 128 under a hard one of 256: pgvalve should take the
  // 256 it is allowed, and still more silent connections come than that.
  // startup_timeout is long so that no silent connection is timed out
  // (which would free descriptors) while the test runs.
  AdminPgvalve& pgvalve = StartOwn({.proxy_toml = "startup_timeout = \"5m\"\n",
                                    .fd_hard_limit = 256,
                                    .fd_soft_limit = 128});
  EXPECT_TRUE(LogEventuallyContains("file-descriptor limit: soft 128 -> 256 (hard 256)"))
      << pgvalve.process().LogTail();
  const std::string db = FreshDatabase();

  // From eight loopback addresses, so that the per-address bound does not
  // close them first: it is the descriptors that must run short.
  std::vector<SilentConnection> silent;
  for (int i = 1; i <= 8; ++i) {
    OpenSilent(silent, pgvalve.listen_port(), 50, "127.0.0." + std::to_string(i));
  }
  EXPECT_TRUE(LogEventuallyContains("not accepting new clients for now"))
      << pgvalve.process().LogTail();

  // The operator gets in and can look.
  ConnectOutcome admin = TryConnect(pgvalve.AdminConnString() + " connect_timeout=10");
  ASSERT_TRUE(admin.ok()) << admin.error << "\n" << pgvalve.process().LogTail();
  const QueryOutcome clients = RunQuery(admin.conn.get(), "SHOW CLIENTS");
  EXPECT_TRUE(clients.ok()) << clients.Describe();

  // Once the silent connections are gone, clients are served again.
  silent.clear();
  ConnectOutcome client;
  EXPECT_TRUE(WaitUntil([&] {
    client = TryConnect(pgvalve.ClientConnString(db, kSuperuser, "connect_timeout=5"));
    return client.ok();
  })) << client.error << "\n" << pgvalve.process().LogTail();
  if (client.ok()) {
    EXPECT_EQ(ScalarString(client.conn.get(), "SELECT 'served'"), "served");
  }
  EXPECT_TRUE(LogEventuallyContains("accepting new clients again")) << pgvalve.process().LogTail();
  EXPECT_EQ(pgvalve.process().Log().find("Too many open files"), std::string::npos)
      << pgvalve.process().LogTail();
}

TEST_F(FdLimitTest, ConnectionsBeyondTheStartupBoundsAreClosedAtOnce) {
  AdminPgvalve& pgvalve = StartOwn({.proxy_toml = "max_startup_connections = 8\n"
                                                  "max_startup_connections_per_address = 5\n"});
  const std::string db = FreshDatabase();
  const uint16_t port = pgvalve.listen_port();

  // Five from one address are kept; the sixth is closed without a word.
  std::vector<SilentConnection> first;
  OpenSilent(first, port, 5, "127.0.0.1");
  SilentConnection sixth(port, "127.0.0.1");
  EXPECT_TRUE(sixth.ClosedWithin(10s)) << pgvalve.process().LogTail();
  // Another address has room of its own, up to the total of eight.
  std::vector<SilentConnection> second;
  OpenSilent(second, port, 3, "127.0.0.2");
  SilentConnection ninth(port, "127.0.0.3");
  EXPECT_TRUE(ninth.ClosedWithin(10s)) << pgvalve.process().LogTail();
  // A real client beyond the bound is refused too.
  const ConnectOutcome refused =
      TryConnect(pgvalve.ClientConnString(db, kSuperuser, "connect_timeout=10"));
  EXPECT_FALSE(refused.ok());

  // The connections within the bounds were kept: one of them now starts
  // (trust authentication: AuthenticationOk comes first).
  EXPECT_EQ(first[0].Start(std::string(kSuperuser), db, 30s), 'R') << pgvalve.process().LogTail();
  EXPECT_TRUE(LogEventuallyContains("max_startup_connections_per_address (5) reached"));
  EXPECT_TRUE(LogEventuallyContains("max_startup_connections (8) reached"));

  // Their places are given back when they go.
  first.clear();
  second.clear();
  ConnectOutcome client;
  EXPECT_TRUE(WaitUntil([&] {
    client = TryConnect(pgvalve.ClientConnString(db, kSuperuser, "connect_timeout=10"));
    return client.ok();
  })) << client.error;
}

}  // namespace
}  // namespace pgvalve::test
