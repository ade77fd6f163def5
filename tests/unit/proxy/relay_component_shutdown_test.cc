// Shutting the proxy down with sessions open: a fast shutdown tells each
// client FATAL 57P01 and each server Terminate; a smart one lets sessions
// finish; neither accepts new connections.

#include <cstdio>
#include <fstream>
#include <future>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/proxy/fake_server.h"
#include "tests/unit/proxy/proxy_under_test.h"
#include "tests/unit/proxy/wire.h"

namespace pgvalve::proxy {
namespace {

using namespace testutil;
using ::testing::HasSubstr;

// Whether some IPv4 socket on this host is in SYN_SENT towards 127.0.0.1
// `port`, i.e. a connect to it is waiting for an answer (Linux's
// /proc/net/tcp: addresses as hex "IP:PORT", state 02 is SYN_SENT).
bool ConnectPendingTo(uint16_t port) {
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // the header
  char wanted[16];
  std::snprintf(wanted, sizeof wanted, "0100007F:%04X", port);
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (remote == wanted && state == "02") return true;
  }
  return false;
}

// Waits until every close request queued for `record`'s session before
// this call has been handled there, and returns how the session answers a
// probe queued behind them. ProxyServer::Shutdown queues its work on the
// control thread, which queues a close request on the session's worker;
// each of those is a single-threaded io_context, which runs handlers in
// the order they were posted. So a probe asked for from the control
// thread, after Shutdown's handler, reaches the session after its close
// request.
std::optional<SessionControl::ProbeResult> ProbeAfterQueuedRequests(
    ProxyServer& server, const std::shared_ptr<SessionRecord>& record) {
  auto answer = std::make_shared<std::promise<SessionControl::ProbeResult>>();
  std::future<SessionControl::ProbeResult> answered = answer->get_future();
  asio::post(server.control_context(), [record, answer] {
    std::shared_ptr<SessionControl> control = record->control();
    if (!control) {
      answer->set_value(absl::FailedPreconditionError("the session has ended"));
      return;
    }
    control->Probe("SELECT 1", [answer](SessionControl::ProbeResult result) {
      answer->set_value(std::move(result));
    });
  });
  if (answered.wait_for(kIoTimeout) != std::future_status::ready) return std::nullopt;
  return answered.get();
}

TEST(RelayShutdownTest, FastShutdownSends57P01ToClientsAndTerminateToServers) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient idle = StartSession(proxy);
  ASSERT_TRUE(idle.ready);
  TestClient in_transaction = StartSession(proxy);
  ASSERT_TRUE(in_transaction.ready);
  ASSERT_TRUE(QueryRoundTrip(in_transaction.socket));

  // Returns once every session has ended (the clients' sockets buffer the
  // error, so nobody has to read first).
  proxy.ShutdownAndJoin();

  for (TestClient* client : {&idle, &in_transaction}) {
    std::optional<ErrorReport> error = ReadFatalThenClose(client->socket);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->sqlstate, "57P01");
    EXPECT_THAT(error->message, HasSubstr("administrator command"));
  }
  for (size_t i = 0; i < 2; ++i) {
    auto server_side = upstream.WaitForSession(i);
    ASSERT_NE(server_side, nullptr);
    ASSERT_TRUE(WaitFor([&] { return server_side->script_done(); }));
    std::string tags = TagsOf(server_side->received());
    ASSERT_FALSE(tags.empty()) << "session " << i;
    EXPECT_EQ(tags.back(), 'X') << "session " << i << " got " << tags;
    EXPECT_EQ(server_side->peer_closed(), std::optional(ReadStatus::kEof));
  }
  EXPECT_EQ(proxy.server().sessions().size(), 0u);
  EXPECT_EQ(proxy.server().cancel_keys().size(), 0u);
}

TEST(RelayShutdownTest, NoConnectionsAreAcceptedAfterShutdown) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  proxy.ShutdownAndJoin();
  TestSocket late = TestSocket::Connect(proxy.port(), Millis(1000));
  if (late.valid()) {
    // Connected to a lingering backlog at most: it must not be served.
    ASSERT_TRUE(late.Send(StartupPacket(ClientParameters())));
    Bytes got;
    EXPECT_NE(late.ReadUntilClosed(got, Millis(1000)), ReadStatus::kOk);
    EXPECT_TRUE(got.empty()) << Hex(got);
  }
  EXPECT_EQ(upstream.accepted_count(), 0u);
}

TEST(RelayShutdownTest, SmartShutdownWaitsForTheLastClient) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);

  proxy.server().Shutdown(ShutdownMode::kSmart);
  // The listener closes, but the running session is not disturbed.
  ASSERT_TRUE(WaitFor([&] {
    TestSocket probe = TestSocket::Connect(proxy.port(), Millis(200));
    return !probe.valid();
  })) << "still accepting after a smart shutdown";
  EXPECT_TRUE(QueryRoundTrip(client.socket));
  EXPECT_FALSE(proxy.WaitForRunToReturn(Millis(200))) << "stopped with a client connected";

  ASSERT_TRUE(client.socket.Send(TerminateMessage()));
  EXPECT_TRUE(proxy.WaitForRunToReturn()) << "did not stop after the last client left";
  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);
  ASSERT_TRUE(WaitFor([&] { return server_side->script_done(); }));
  EXPECT_EQ(TagsOf(server_side->received()), "QX");
}

// A close request (fast shutdown, or an operator's TERMINATE) that reaches a
// session while it is connecting upstream: the client gets its FATAL, and the
// backend never gets a startup packet, so no server session is left behind.
TEST(RelayShutdownTest, FastShutdownDuringUpstreamConnectTellsClientAndOpensNoSession) {
  // A listen backlog of 0 already holding one connection makes the kernel
  // drop pgvalve's SYN, so its connect stays pending until the test starts
  // accepting (the SYN is retransmitted after about a second).
  FakeServer upstream(AnsweringServer(), {.backlog = 0, .accept_now = false});
  TestSocket filler = TestSocket::Connect(upstream.port());
  ASSERT_TRUE(filler.valid());
  config::Config config = MakeConfig(upstream.port());
  config.upstreams.at(kUpstreamName).connect_timeout = Millis(20000);
  ProxyUnderTest proxy(config);
  ASSERT_TRUE(proxy.ok());

  TestSocket client = proxy.Connect();
  ASSERT_TRUE(client.Send(StartupPacket(ClientParameters())));
  // The session is registered just before it connects upstream.
  ASSERT_TRUE(WaitFor([&] { return proxy.server().sessions().size() == 1; }));
  std::shared_ptr<SessionRecord> record = proxy.server().sessions().All().front();
  ASSERT_TRUE(WaitFor([&] { return ConnectPendingTo(upstream.port()); }))
      << "pgvalve's connect to the upstream never started";

  proxy.server().Shutdown(ShutdownMode::kFast);
  std::optional<SessionControl::ProbeResult> probe =
      ProbeAfterQueuedRequests(proxy.server(), record);
  ASSERT_TRUE(probe.has_value()) << "the session's worker did not get to the close request";
  // Still connecting: the close request came first.
  ASSERT_FALSE(probe->ok());
  EXPECT_THAT(probe->status().message(), HasSubstr("not relaying"));
  EXPECT_TRUE(ConnectPendingTo(upstream.port()));

  filler.Close();
  upstream.StartAccepting();

  std::optional<ErrorReport> error = ReadFatalThenClose(client);
  if (error) {
    EXPECT_EQ(error->sqlstate, "57P01");
  }
  // The connect completes, but no startup packet follows: the backend
  // never had a session to end. The filler is accepted first, then
  // pgvalve's connection once its SYN is sent again (after about a second);
  // each ends when its peer closes it without an opening packet.
  for (size_t i = 0; i < 2; ++i) {
    std::shared_ptr<FakeConnection> connection = upstream.WaitForConnection(i, Millis(10000));
    ASSERT_NE(connection, nullptr) << "connection " << i << " was never accepted";
    ASSERT_TRUE(connection->WaitUntilDone()) << "connection " << i << " was left open";
    EXPECT_TRUE(connection->startup_packet().empty())
        << "connection " << i << " opened with " << Hex(connection->startup_packet());
  }
  EXPECT_EQ(upstream.session_count(), 0u) << "a startup packet was sent after the close request";
}

}  // namespace
}  // namespace pgvalve::proxy
