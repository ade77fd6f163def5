// Cancel keys end to end: the client only ever sees pgvalve's key; a
// CancelRequest with that key reaches the server with the server's own key,
// on a fresh connection; any other key reaches nothing and learns nothing.

#include <thread>

#include "gtest/gtest.h"
#include "tests/unit/proxy/fake_server.h"
#include "tests/unit/proxy/proxy_under_test.h"
#include "tests/unit/proxy/wire.h"

namespace pgvalve::proxy {
namespace {

using namespace testutil;

constexpr int32_t kServerPid = 4242;
// Long enough for a wrongly forwarded cancel to have arrived.
constexpr Millis kQuietPeriod{500};

// A fake server whose sessions get BackendKeyData(4242, secret) and then
// answer queries.
std::unique_ptr<FakeServer> ServerWithKey(const Bytes& secret) {
  return std::make_unique<FakeServer>([secret](FakeConnection& connection) {
    connection.Send(StartupReply(kServerPid, secret));
    AnswerQueriesUntilClosed(connection);
  });
}

// Sends `packet` to pgvalve on a new connection and expects it to be closed
// without a single byte in answer.
void SendCancelExpectingSilentClose(const ProxyUnderTest& proxy, const Bytes& packet) {
  TestSocket canceller = proxy.Connect();
  ASSERT_TRUE(canceller.valid());
  ASSERT_TRUE(canceller.Send(packet));
  Bytes answer;
  ReadStatus end = canceller.ReadUntilClosed(answer);
  EXPECT_EQ(end, ReadStatus::kEof) << ReadStatusName(end);
  EXPECT_TRUE(answer.empty()) << "pgvalve answered a cancel request: " << Hex(answer);
}

class RelayCancelTest : public ::testing::TestWithParam<size_t> {};

TEST_P(RelayCancelTest, MintedKeyCancelsWithTheServersRealKey) {
  const size_t secret_length = GetParam();
  const Bytes real_secret = PatternBytes(secret_length, 7);
  auto upstream = ServerWithKey(real_secret);
  ProxyUnderTest proxy(MakeConfig(upstream->port()));
  ASSERT_TRUE(proxy.ok());

  // pgvalve takes the secret's length from the server, whatever the
  // client's protocol version.
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  ASSERT_TRUE(client.key.has_value());
  EXPECT_EQ(client.key->secret.size(), secret_length);
  EXPECT_NE(client.key->secret, real_secret);
  EXPECT_NE(client.key->pid, kServerPid);

  SendCancelExpectingSilentClose(proxy, CancelRequestPacket(client.key->pid, client.key->secret));

  // pgvalve closes the canceller only after delivering, so it is there now.
  std::vector<ReceivedCancel> cancels = upstream->cancel_requests();
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(cancels[0].pid, kServerPid);
  EXPECT_EQ(Hex(cancels[0].secret, 300), Hex(real_secret, 300));
  EXPECT_EQ(cancels[0].packet, CancelRequestPacket(kServerPid, real_secret));
  EXPECT_EQ(cancels[0].packet.size(), 12 + secret_length);
  // A separate connection: the session's own is untouched and still works.
  EXPECT_EQ(upstream->session_count(), 1u);
  EXPECT_TRUE(QueryRoundTrip(client.socket));
}

// 4 bytes is protocol 3.0; 32 is what PostgreSQL 18 sends with 3.2; 256 is
// the protocol's limit.
INSTANTIATE_TEST_SUITE_P(SecretLengths, RelayCancelTest, ::testing::Values(4, 32, 256));

TEST(RelayCancelTest32, ProtocolThreeTwoClientGetsAThirtyTwoByteMintedSecret) {
  const Bytes real_secret = PatternBytes(32, 3);
  auto upstream = ServerWithKey(real_secret);
  ProxyUnderTest proxy(MakeConfig(upstream->port()));
  ASSERT_TRUE(proxy.ok());

  TestSocket client = proxy.Connect();
  ASSERT_TRUE(client.Send(StartupPacket(ClientParameters(), 3, 2)));
  MessagesRead replies = ReadUntil(client, 'Z');
  ASSERT_EQ(replies.Tags(), "RSKZ");
  std::optional<KeyData> key = ParseKeyData(replies.messages[2]);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->secret.size(), 32u);
  EXPECT_EQ(replies.messages[2].body.size(), 4u + 32u);

  SendCancelExpectingSilentClose(proxy, CancelRequestPacket(key->pid, key->secret));
  std::optional<ReceivedCancel> cancel = upstream->WaitForCancelRequest();
  ASSERT_TRUE(cancel.has_value());
  EXPECT_EQ(cancel->pid, kServerPid);
  EXPECT_EQ(cancel->secret, real_secret);
}

struct RejectedKey {
  const char* name;
  // Turns the client's real key into the one presented.
  Bytes (*present)(const KeyData& key);
};
void PrintTo(const RejectedKey& key, std::ostream* out) { *out << key.name; }

class RelayRejectedCancelTest : public ::testing::TestWithParam<RejectedKey> {};

TEST_P(RelayRejectedCancelTest, NothingReachesTheServerAndTheCancellerLearnsNothing) {
  auto upstream = ServerWithKey(PatternBytes(4, 1));
  ProxyUnderTest proxy(MakeConfig(upstream->port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  ASSERT_TRUE(client.key.has_value());

  SendCancelExpectingSilentClose(proxy, GetParam().present(*client.key));
  std::this_thread::sleep_for(kQuietPeriod);
  EXPECT_TRUE(upstream->cancel_requests().empty());
  EXPECT_EQ(upstream->accepted_count(), 1u) << "pgvalve opened a connection for a bad key";
  EXPECT_TRUE(QueryRoundTrip(client.socket)) << "the session itself must be unaffected";
}

INSTANTIATE_TEST_SUITE_P(
    BadKeys, RelayRejectedCancelTest,
    ::testing::Values(
        RejectedKey{"WrongSecret",
                    [](const KeyData& key) {
                      Bytes secret = key.secret;
                      secret[3] ^= std::byte{0x80};
                      return CancelRequestPacket(key.pid, secret);
                    }},
        RejectedKey{"UnknownPid",
                    [](const KeyData& key) { return CancelRequestPacket(key.pid + 1, key.secret); }},
        RejectedKey{"ServersOwnPid",
                    [](const KeyData& key) { return CancelRequestPacket(kServerPid, key.secret); }},
        RejectedKey{"SecretTooLong",
                    [](const KeyData& key) {
                      Bytes secret = key.secret;
                      secret.push_back(std::byte{0});
                      return CancelRequestPacket(key.pid, secret);
                    }},
        RejectedKey{"ServersOwnKey",
                    [](const KeyData&) { return CancelRequestPacket(kServerPid, PatternBytes(4, 1)); }}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(RelayCancelEndTest, KeyStopsWorkingWhenTheSessionEnds) {
  auto upstream = ServerWithKey(PatternBytes(4, 9));
  ProxyUnderTest proxy(MakeConfig(upstream->port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  ASSERT_TRUE(client.key.has_value());
  EXPECT_EQ(proxy.server().cancel_keys().size(), 1u);

  ASSERT_TRUE(client.socket.Send(TerminateMessage()));
  ASSERT_TRUE(WaitFor([&] { return proxy.server().sessions().size() == 0; }));
  EXPECT_EQ(proxy.server().cancel_keys().size(), 0u);

  SendCancelExpectingSilentClose(proxy, CancelRequestPacket(client.key->pid, client.key->secret));
  std::this_thread::sleep_for(kQuietPeriod);
  EXPECT_TRUE(upstream->cancel_requests().empty());
}

}  // namespace
}  // namespace pgvalve::proxy
