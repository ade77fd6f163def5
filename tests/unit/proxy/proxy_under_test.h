#pragma once
// A real ProxyServer running in-process on 127.0.0.1 with an ephemeral
// port, configured in code, plus the client-side steps every component test
// repeats.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "config/config.h"
#include "proxy/proxy_server.h"
#include "tests/unit/proxy/test_socket.h"
#include "tests/unit/proxy/wire.h"

namespace pgvalve::proxy::testutil {

inline constexpr char kUpstreamName[] = "fake";

// proxy.listen = 127.0.0.1:0, two workers, one upstream named "fake" at
// 127.0.0.1:upstream_port, and the route "*" to it.
config::Config MakeConfig(uint16_t upstream_port);

class ProxyUnderTest {
 public:
  // Starts the server; a failed Start() fails the test (ok() is false).
  explicit ProxyUnderTest(config::Config config);
  // Gives sessions whose clients are already gone a moment to end, then
  // shuts down fast and joins Run(). Tests declare their clients after the
  // proxy, so by then every client socket is closed: teardown exercises
  // only the path the test is about, and fast shutdown with open sessions
  // has tests of its own.
  ~ProxyUnderTest();
  ProxyUnderTest(const ProxyUnderTest&) = delete;
  ProxyUnderTest& operator=(const ProxyUnderTest&) = delete;

  bool ok() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  ProxyServer& server() { return *server_; }

  // Asks for a fast shutdown and waits for Run() to return.
  void ShutdownAndJoin();
  // True once Run() has returned by itself (e.g. after a smart shutdown).
  bool WaitForRunToReturn(Millis timeout = kIoTimeout) const;

  TestSocket Connect() const { return TestSocket::Connect(port_); }

 private:
  std::unique_ptr<ProxyServer> server_;
  std::thread runner_;
  std::atomic<bool> run_returned_{false};
  uint16_t port_ = 0;
};

// The startup parameters of a plain 3.0 client.
Parameters ClientParameters(std::string user = "alice", std::string database = "app");

// Connects, sends the startup packet and reads the replies up to and
// including ReadyForQuery. Failures are reported through gtest.
struct TestClient {
  TestSocket socket;
  std::vector<Message> startup_replies;
  std::optional<KeyData> key;  // the BackendKeyData the client was given
  bool ready = false;          // ReadyForQuery arrived
};
TestClient StartSession(const ProxyUnderTest& proxy,
                           const Parameters& parameters = ClientParameters());

// Sends a Query and expects CommandComplete then ReadyForQuery (the
// fake server's AnswerQueriesUntilClosed). True when both arrived.
bool QueryRoundTrip(TestSocket& socket, std::string_view sql = "SELECT 1");

// Polls `condition` every few milliseconds until it holds or `timeout`.
bool WaitFor(const std::function<bool()>& condition, Millis timeout = kIoTimeout);

}  // namespace pgvalve::proxy::testutil
