// Everything before the relay starts: the startup packet's limits, SSL and
// GSS negotiation, routing, the connection limit, an unreachable upstream,
// and the startup deadline. Refusals are one FATAL ErrorResponse with the
// right SQLSTATE, then the connection closes.

#include <thread>

#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/proxy/fake_server.h"
#include "tests/unit/proxy/proxy_under_test.h"
#include "tests/unit/proxy/wire.h"

namespace pgvalve::proxy {
namespace {

using namespace testutil;
using ::testing::HasSubstr;

// Sends `packet` as a new client and expects FATAL `sqlstate`, then close.
std::optional<ErrorReport> ExpectRefused(const ProxyUnderTest& proxy, const Bytes& packet,
                                         std::string_view sqlstate) {
  TestSocket client = proxy.Connect();
  EXPECT_TRUE(client.valid());
  EXPECT_TRUE(client.Send(packet));
  std::optional<ErrorReport> error = ReadFatalThenClose(client);
  if (error) {
    EXPECT_EQ(error->sqlstate, sqlstate) << error->message;
  }
  return error;
}

// A well-formed length field over parameters that lack the final NUL.
Bytes StartupWithoutFinalNul() {
  Bytes packet = StartupPacket(ClientParameters());
  packet.pop_back();
  const Bytes length = RawHeader('\0', static_cast<uint32_t>(packet.size()));
  std::copy(length.begin() + 1, length.end(), packet.begin());
  return packet;
}

struct BadStartup {
  const char* name;
  Bytes packet;
  const char* sqlstate;
};
void PrintTo(const BadStartup& startup, std::ostream* out) { *out << startup.name; }

class RelayBadStartupTest : public ::testing::TestWithParam<BadStartup> {};

TEST_P(RelayBadStartupTest, IsRefusedBeforeAnyUpstreamConnection) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  ExpectRefused(proxy, GetParam().packet, GetParam().sqlstate);
  EXPECT_EQ(upstream.accepted_count(), 0u);
  EXPECT_EQ(proxy.server().sessions().size(), 0u);
}

// Only the length field is sent for the bad lengths: pgvalve must judge
// the header alone, without waiting for a body.
INSTANTIATE_TEST_SUITE_P(
    Packets, RelayBadStartupTest,
    ::testing::Values(
        BadStartup{"Length10001", Bytes{std::byte{0}, std::byte{0}, std::byte{0x27}, std::byte{0x11}},
                   "08P01"},
        BadStartup{"Length4", Bytes{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{4}}, "08P01"},
        BadStartup{"Length7", Bytes{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{7}}, "08P01"},
        BadStartup{"NegativeLength",
                   Bytes{std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xf0}}, "08P01"},
        BadStartup{"ProtocolTwo", StartupPacket(ClientParameters(), 2, 0), "0A000"},
        BadStartup{"ProtocolFour", StartupPacket(ClientParameters(), 4, 0), "0A000"},
        BadStartup{"MissingUser", StartupPacket({{"database", "app"}}), "28000"},
        BadStartup{"EmptyUser", StartupPacket({{"user", ""}, {"database", "app"}}), "28000"},
        BadStartup{"NoTerminatingNul", StartupWithoutFinalNul(), "08P01"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(RelayStartupTest, StartupPacketOfTheMaximumLengthIsAccepted) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  // 10000 bytes exactly: pad an option value until the packet is that long.
  Parameters parameters = ClientParameters();
  const size_t base = StartupPacket(parameters).size() + std::string_view("options").size() + 2;
  parameters.emplace_back("options", std::string(10000 - base, 'x'));
  ASSERT_EQ(StartupPacket(parameters).size(), 10000u);
  TestClient client = StartSession(proxy, parameters);
  EXPECT_TRUE(client.ready);
  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);
  EXPECT_EQ(server_side->startup_packet(), StartupPacket(parameters));
}

TEST(RelayStartupTest, SslThenGssRequestsAreRefusedAndStartupProceeds) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestSocket client = proxy.Connect();

  std::byte answer[1];
  ASSERT_TRUE(client.Send(SslRequestPacket()));
  ASSERT_EQ(client.ReadExactly(answer), ReadStatus::kOk);
  EXPECT_EQ(static_cast<char>(answer[0]), 'N');
  ASSERT_TRUE(client.Send(GssEncRequestPacket()));
  ASSERT_EQ(client.ReadExactly(answer), ReadStatus::kOk);
  EXPECT_EQ(static_cast<char>(answer[0]), 'N');

  const Bytes startup = StartupPacket(ClientParameters());
  ASSERT_TRUE(client.Send(startup));
  MessagesRead replies = ReadUntil(client, 'Z');
  ASSERT_EQ(replies.status, ReadStatus::kOk);
  EXPECT_EQ(replies.Tags(), "RSKZ");
  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);
  EXPECT_EQ(server_side->startup_packet(), startup) << "the server must see only the startup";
  EXPECT_TRUE(QueryRoundTrip(client));
}

TEST(RelayStartupTest, ThirdEncryptionRequestIsAProtocolViolation) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestSocket client = proxy.Connect();
  std::byte answer[1];
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(client.Send(SslRequestPacket()));
    ASSERT_EQ(client.ReadExactly(answer), ReadStatus::kOk);
    EXPECT_EQ(static_cast<char>(answer[0]), 'N');
  }
  ASSERT_TRUE(client.Send(SslRequestPacket()));
  std::optional<ErrorReport> error = ReadFatalThenClose(client);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->sqlstate, "08P01");
  EXPECT_EQ(upstream.accepted_count(), 0u);
}

TEST(RelayStartupTest, DatabaseWithoutARouteIsRefusedWith3D000) {
  FakeServer upstream(AnsweringServer());
  config::Config config = MakeConfig(upstream.port());
  config.databases.clear();
  config.databases.emplace("app", config::DatabaseRoute{"app", kUpstreamName});
  ProxyUnderTest proxy(config);
  ASSERT_TRUE(proxy.ok());

  std::optional<ErrorReport> error =
      ExpectRefused(proxy, StartupPacket(ClientParameters("alice", "other")), "3D000");
  ASSERT_TRUE(error.has_value());
  EXPECT_THAT(error->message, HasSubstr("\"other\""));
  EXPECT_EQ(upstream.accepted_count(), 0u);

  // The routed database still works.
  TestClient routed = StartSession(proxy, ClientParameters("alice", "app"));
  EXPECT_TRUE(routed.ready);
}

TEST(RelayStartupTest, DatabaseDefaultsToTheUserNameForRouting) {
  FakeServer upstream(AnsweringServer());
  config::Config config = MakeConfig(upstream.port());
  config.databases.clear();
  config.databases.emplace("bob", config::DatabaseRoute{"bob", kUpstreamName});
  ProxyUnderTest proxy(config);
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy, {{"user", "bob"}});
  EXPECT_TRUE(client.ready);
}

TEST(RelayStartupTest, ClientsBeyondMaxClientConnectionsGet53300) {
  FakeServer upstream(AnsweringServer());
  config::Config config = MakeConfig(upstream.port());
  config.proxy.max_client_connections = 1;
  ProxyUnderTest proxy(config);
  ASSERT_TRUE(proxy.ok());

  TestClient first = StartSession(proxy);
  ASSERT_TRUE(first.ready);
  std::optional<ErrorReport> error =
      ExpectRefused(proxy, StartupPacket(ClientParameters()), "53300");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(upstream.session_count(), 1u) << "the refused client reached the server";
  EXPECT_TRUE(QueryRoundTrip(first.socket)) << "the admitted client is unaffected";

  // Once the first client leaves, its slot is free again.
  ASSERT_TRUE(first.socket.Send(TerminateMessage()));
  ASSERT_TRUE(WaitFor([&] { return proxy.server().sessions().slots_in_use() == 0; }));
  TestClient next = StartSession(proxy);
  EXPECT_TRUE(next.ready);
}

TEST(RelayStartupTest, UnreachableUpstreamIsReportedWith08006) {
  uint16_t closed_port = 0;
  {
    FakeServer gone(nullptr);
    closed_port = gone.port();
    gone.Stop();
  }
  ProxyUnderTest proxy(MakeConfig(closed_port));
  ASSERT_TRUE(proxy.ok());
  std::optional<ErrorReport> error =
      ExpectRefused(proxy, StartupPacket(ClientParameters()), "08006");
  ASSERT_TRUE(error.has_value());
  EXPECT_THAT(error->message, HasSubstr(fmt::format("upstream \"{}\"", kUpstreamName)));
  EXPECT_THAT(error->message, HasSubstr(fmt::format("127.0.0.1:{}", closed_port)));
  EXPECT_THAT(error->message, HasSubstr("Connection refused"));
  EXPECT_TRUE(WaitFor([&] { return proxy.server().sessions().size() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return proxy.server().sessions().slots_in_use() == 0; }));
}

config::Config WithStartupTimeout(uint16_t upstream_port) {
  config::Config config = MakeConfig(upstream_port);
  config.proxy.startup_timeout = Millis(300);
  return config;
}

TEST(RelayStartupTimeoutTest, SilentClientIsClosedWithoutAWord) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(WithStartupTimeout(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestSocket client = proxy.Connect();
  ASSERT_TRUE(client.valid());
  Bytes got;
  ReadStatus end = client.ReadUntilClosed(got);
  EXPECT_EQ(end, ReadStatus::kEof) << ReadStatusName(end);
  EXPECT_TRUE(got.empty()) << Hex(got);
  EXPECT_EQ(upstream.accepted_count(), 0u);
}

TEST(RelayStartupTimeoutTest, ClientStuckMidPacketIsClosed) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(WithStartupTimeout(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestSocket client = proxy.Connect();
  const Bytes startup = StartupPacket(ClientParameters());
  ASSERT_TRUE(client.Send(std::span(startup).first(10)));
  Bytes got;
  ReadStatus end = client.ReadUntilClosed(got);
  EXPECT_TRUE(IsClosed(end)) << ReadStatusName(end);
  EXPECT_EQ(upstream.accepted_count(), 0u);
}

TEST(RelayStartupTimeoutTest, SilentServerGetsTheClient08006AndATerminate) {
  FakeServer upstream([](FakeConnection& connection) { connection.ReadUntilClosed(); });
  ProxyUnderTest proxy(WithStartupTimeout(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestSocket client = proxy.Connect();
  ASSERT_TRUE(client.Send(StartupPacket(ClientParameters())));

  std::optional<ErrorReport> error = ReadFatalThenClose(client);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->sqlstate, "08006");

  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);
  ASSERT_TRUE(WaitFor([&] { return server_side->script_done(); }));
  std::vector<Message> received = server_side->received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].tag, 'X');
}

TEST(RelayStartupTimeoutTest, DeadlineNoLongerAppliesAfterReadyForQuery) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(WithStartupTimeout(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  // Well past the 300 ms startup deadline.
  std::this_thread::sleep_for(Millis(600));
  EXPECT_TRUE(QueryRoundTrip(client.socket));
}

}  // namespace
}  // namespace pgvalve::proxy
