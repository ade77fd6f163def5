// Shutting the proxy down with sessions open: a fast shutdown tells each
// client FATAL 57P01 and each server Terminate; a smart one lets sessions
// finish; neither accepts new connections.

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/proxy/fake_server.h"
#include "tests/unit/proxy/proxy_under_test.h"
#include "tests/unit/proxy/wire.h"

namespace pgvalve::proxy {
namespace {

using namespace testutil;
using ::testing::HasSubstr;

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
  std::this_thread::sleep_for(Millis(200));
  proxy.server().Shutdown(ShutdownMode::kFast);
  std::this_thread::sleep_for(Millis(200));  // the close request reaches the session
  filler.Close();
  upstream.StartAccepting();

  std::optional<ErrorReport> error = ReadFatalThenClose(client);
  if (error) {
    EXPECT_EQ(error->sqlstate, "57P01");
  }
  // The connect completes, but no startup packet follows: the backend
  // never had a session to end.
  ASSERT_TRUE(WaitFor([&] { return upstream.accepted_count() >= 2; }, Millis(10000)));
  std::this_thread::sleep_for(Millis(300));
  EXPECT_EQ(upstream.session_count(), 0u) << "a startup packet was sent after the close request";
}

}  // namespace
}  // namespace pgvalve::proxy
