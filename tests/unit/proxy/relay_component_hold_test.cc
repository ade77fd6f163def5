// PAUSE holds a session's next request, or a new session, until RESUME or
// hold_timeout. A client that leaves meanwhile ends its session at once:
// the backend gets a Terminate instead of waiting, and the held request
// never reaches it. hold_timeout is ten minutes here, far beyond every
// wait, so only noticing the client can end these sessions in time.

#include <chrono>

#include "gtest/gtest.h"
#include "proxy/database_gate.h"
#include "tests/unit/proxy/fake_server.h"
#include "tests/unit/proxy/proxy_under_test.h"
#include "tests/unit/proxy/wire.h"

namespace pgvalve::proxy {
namespace {

using namespace testutil;

config::Config HoldConfig(uint16_t upstream_port) {
  config::Config config = MakeConfig(upstream_port);
  config.proxy.hold_timeout = std::chrono::minutes(10);
  return config;
}

// The gate of ClientParameters()' database.
std::shared_ptr<DatabaseGate> AppGate(ProxyUnderTest& proxy) {
  return proxy.server().databases().Gate("app");
}

bool HoldsOne(const std::shared_ptr<DatabaseGate>& gate) { return gate->Snapshot().held == 1; }

uint64_t BytesFromClient(ProxyUnderTest& proxy) {
  uint64_t total = 0;
  for (const auto& record : proxy.server().sessions().All()) {
    total += record->counters().bytes_from_client();
  }
  return total;
}

class RelayHoldTest : public ::testing::TestWithParam<bool> {};

TEST_P(RelayHoldTest, ClientThatLeavesWhileItsRequestIsHeldEndsTheSessionAtOnce) {
  const bool reset = GetParam();
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(HoldConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  auto gate = AppGate(proxy);
  gate->Pause(StateOrigin::kAdminCommand);

  ASSERT_TRUE(client.socket.Send(QueryMessage("SELECT 'held'")));
  ASSERT_TRUE(WaitFor([&] { return HoldsOne(gate); })) << "the request was not held";
  if (reset) {
    client.socket.Abort();
  } else {
    client.socket.Close();
  }

  EXPECT_TRUE(WaitFor([&] { return proxy.server().sessions().size() == 0; }))
      << "the session outlived its client";
  EXPECT_EQ(gate->Snapshot().held, 0u);
  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);
  ASSERT_TRUE(WaitFor([&] { return server_side->script_done(); }))
      << "the backend connection stayed open";
  EXPECT_EQ(TagsOf(server_side->received()), "X") << "the held request must never run";
  EXPECT_TRUE(gate->paused());
  gate->Resume();
}

INSTANTIATE_TEST_SUITE_P(CloseOrReset, RelayHoldTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Reset" : "Close"; });

// Watching the client means reading what it sends after the held request;
// those bytes are kept and relayed, in order, after RESUME.
TEST(RelayHoldBytesTest, RequestsSentWhileHeldRunInOrderAfterResume) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(HoldConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  auto gate = AppGate(proxy);
  gate->Pause(StateOrigin::kAdminCommand);

  const Bytes first = QueryMessage("SELECT 'first'");
  const Bytes second = QueryMessage("SELECT 'second'");
  const uint64_t before = BytesFromClient(proxy);
  ASSERT_TRUE(client.socket.Send(first));
  ASSERT_TRUE(WaitFor([&] { return HoldsOne(gate); }));
  ASSERT_TRUE(client.socket.Send(second));
  ASSERT_TRUE(WaitFor([&] { return BytesFromClient(proxy) == before + first.size() + second.size(); }))
      << "the bytes sent while held were not read";

  gate->Resume();
  MessagesRead replies = ReadUntil(client.socket, 'Z');
  EXPECT_EQ(replies.Tags(), "CZ");
  replies = ReadUntil(client.socket, 'Z');
  EXPECT_EQ(replies.Tags(), "CZ");
  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);
  ASSERT_TRUE(WaitFor([&] { return server_side->received().size() == 2; }));
  EXPECT_EQ(Encode(server_side->received()[0]), first);
  EXPECT_EQ(Encode(server_side->received()[1]), second);

  // One hold, counted for /metrics before the request went on.
  const ProxyEvents::Snapshot events = proxy.server().events().Read();
  EXPECT_EQ(events.held_requests.count, 1u);
  EXPECT_EQ(events.held_new_sessions.count, 0u);
}

TEST(RelayHoldStartupTest, NewSessionWhoseClientLeavesWhileHeldEndsWithoutABackend) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(HoldConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  auto gate = AppGate(proxy);
  gate->Pause(StateOrigin::kAdminCommand);

  TestSocket client = proxy.Connect();
  ASSERT_TRUE(client.Send(StartupPacket(ClientParameters())));
  ASSERT_TRUE(WaitFor([&] { return HoldsOne(gate); })) << "the new session was not held";
  ASSERT_EQ(proxy.server().sessions().size(), 1u);
  client.Close();

  EXPECT_TRUE(WaitFor([&] { return proxy.server().sessions().size() == 0; }))
      << "the held session outlived its client";
  EXPECT_EQ(gate->Snapshot().held, 0u);
  EXPECT_EQ(upstream.session_count(), 0u) << "no upstream connection for a client that left";
  const ProxyEvents::Snapshot events = proxy.server().events().Read();
  EXPECT_EQ(events.held_new_sessions.count, 1u);
  EXPECT_EQ(events.held_requests.count, 0u);
  gate->Resume();
}

}  // namespace
}  // namespace pgvalve::proxy
