// Protocol violations inside a running session: a length that breaks
// framing from either side, or a client message above max_message_size
// (the server's messages are not held to it), ends that session with FATAL
// 08P01 (the other side gets a Terminate when it is between messages) and
// leaves other sessions alone. Whatever was relayed before the violation
// must stay a correct prefix of the stream.

#include <algorithm>
#include <atomic>
#include <mutex>

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

// Where `got` first differs from `expected` (the shorter length if one is
// a prefix of the other).
size_t FirstDifference(std::span<const std::byte> got, std::span<const std::byte> expected) {
  return std::mismatch(got.begin(), got.begin() + std::min(got.size(), expected.size()),
                       expected.begin())
             .first -
         got.begin();
}

struct BadLength {
  const char* name;
  uint32_t length;
};
void PrintTo(const BadLength& bad, std::ostream* out) { *out << bad.name; }

class RelayClientFramingTest : public ::testing::TestWithParam<BadLength> {};

TEST_P(RelayClientFramingTest, BadLengthFromClientEndsOnlyThatSession) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient broken = StartSession(proxy);
  ASSERT_TRUE(broken.ready);
  auto broken_server_side = upstream.WaitForSession(0);
  ASSERT_NE(broken_server_side, nullptr);
  TestClient healthy = StartSession(proxy);
  ASSERT_TRUE(healthy.ready);

  ASSERT_TRUE(broken.socket.Send(RawHeader('Q', GetParam().length)));
  std::optional<ErrorReport> error = ReadFatalThenClose(broken.socket);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->sqlstate, "08P01");
  EXPECT_THAT(error->message, HasSubstr("invalid length"));

  // The server is told with a Terminate and never sees the broken header.
  ASSERT_TRUE(WaitFor([&] { return broken_server_side->script_done(); }));
  EXPECT_EQ(TagsOf(broken_server_side->received()), "X");
  EXPECT_EQ(broken_server_side->peer_closed(), std::optional(ReadStatus::kEof));

  EXPECT_TRUE(QueryRoundTrip(healthy.socket)) << "the other session must keep working";
  EXPECT_TRUE(WaitFor([&] { return proxy.server().sessions().size() == 1; }));
}

INSTANTIATE_TEST_SUITE_P(Lengths, RelayClientFramingTest,
                         ::testing::Values(BadLength{"Three", 3}, BadLength{"Zero", 0},
                                           BadLength{"Int32Max", 0x7FFFFFFF},
                                           BadLength{"MinusOne", 0xFFFFFFFF},
                                           BadLength{"Int32Min", 0x80000000}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(RelayServerViolationTest, BadLengthFromServerIsReportedAsTheUpstreamsFault) {
  // The first session's server breaks framing; the second one behaves.
  std::atomic<int> sessions{0};
  FakeServer upstream([&](FakeConnection& connection) {
    const bool first = sessions++ == 0;
    AcceptStartup(connection);
    if (!first) return AnswerQueriesUntilClosed(connection);
    if (!connection.ReadMessage().ok()) return;
    connection.Send(RawHeader('D', 2));
    connection.ReadUntilClosed();
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  TestClient other = StartSession(proxy);
  ASSERT_TRUE(other.ready);
  ASSERT_TRUE(client.socket.Send(QueryMessage("SELECT 1")));

  std::optional<ErrorReport> error = ReadFatalThenClose(client.socket);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->sqlstate, "08P01");
  EXPECT_THAT(error->message, HasSubstr(fmt::format("upstream \"{}\"", kUpstreamName)));
  EXPECT_THAT(error->message, HasSubstr("invalid length 2"));

  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);
  EXPECT_TRUE(WaitFor([&] { return server_side->script_done(); }))
      << "pgvalve kept the broken upstream connection open";
  // The other session is still there.
  EXPECT_TRUE(WaitFor([&] { return proxy.server().sessions().size() == 1; }));
  EXPECT_TRUE(QueryRoundTrip(other.socket));
}

TEST(RelayServerViolationTest, MalformedBackendKeyDataIsNeverShownToTheClient) {
  // A 3-byte secret is below the protocol's minimum of 4.
  const Bytes bad_key = Concat({RawHeader('K', 4 + 4 + 3),
                                Bytes{std::byte{0}, std::byte{0}, std::byte{0x10}, std::byte{0x92}},
                                Bytes{std::byte{1}, std::byte{2}, std::byte{3}}});
  FakeServer upstream([&](FakeConnection& connection) {
    connection.Send(Concat({AuthenticationOkMessage(), bad_key, ReadyForQueryMessage('I')}));
    connection.ReadUntilClosed();
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestSocket client = proxy.Connect();
  ASSERT_TRUE(client.Send(StartupPacket(ClientParameters())));

  // AuthenticationOk may or may not come first; the key never does.
  MessagesRead read = ReadUntil(client, 'E');
  ASSERT_EQ(read.status, ReadStatus::kOk) << read.Tags();
  EXPECT_THAT(read.Tags(), ::testing::AnyOf("E", "RE"));
  std::optional<ErrorReport> error = ParseError(read.messages.back());
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->severity, "FATAL");
  EXPECT_EQ(error->sqlstate, "08P01");
  EXPECT_THAT(error->message, HasSubstr("BackendKeyData"));
  Bytes rest;
  EXPECT_TRUE(IsClosed(client.ReadUntilClosed(rest)));
  EXPECT_TRUE(rest.empty()) << Hex(rest);
}

// max_message_size guards the client direction only: PostgreSQL bounds its
// own results, and a row larger than the limit is a legitimate answer.
TEST(RelayMaxMessageSizeTest, ServerMessageAboveTheLimitIsRelayedWhole) {
  constexpr uint32_t kLimit = 8192;
  // Eight times the limit and more than one relay buffer, so it streams
  // across several reads.
  const Bytes large_row = DataRowMessage(PatternBytes(8 * kLimit + 3, 1));
  FakeServer upstream([&](FakeConnection& connection) {
    AcceptStartup(connection);
    if (!connection.ReadMessage().ok()) return;
    connection.Send(Concat({large_row, CommandCompleteMessage("SELECT 1"), ReadyForQueryMessage('I')}));
    AnswerQueriesUntilClosed(connection);
  });
  config::Config config = MakeConfig(upstream.port());
  config.proxy.max_message_size = kLimit;
  ProxyUnderTest proxy(config);
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);

  ASSERT_TRUE(client.socket.Send(QueryMessage("SELECT large")));
  MessagesRead reply = ReadUntil(client.socket, 'Z');
  ASSERT_EQ(reply.Tags(), "DCZ");
  EXPECT_TRUE(Encode(reply.messages[0]) == large_row) << "the row arrived changed";
  EXPECT_TRUE(QueryRoundTrip(client.socket)) << "the session must go on";
}

// What the protocol cannot frame (a length that reads as a negative Int32)
// is still the upstream's fault, whatever the setting.
TEST(RelayMaxMessageSizeTest, ServerLengthAboveInt32IsRefused) {
  FakeServer upstream([&](FakeConnection& connection) {
    AcceptStartup(connection);
    if (!connection.ReadMessage().ok()) return;
    connection.Send(RawHeader('D', 0x80000000));
    connection.ReadUntilClosed();
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);

  ASSERT_TRUE(client.socket.Send(QueryMessage("SELECT 1")));
  std::optional<ErrorReport> error = ReadFatalThenClose(client.socket);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->sqlstate, "08P01");
  EXPECT_THAT(error->message, HasSubstr(fmt::format("upstream \"{}\"", kUpstreamName)));
  EXPECT_THAT(error->message, HasSubstr("invalid length"));
}

TEST(RelayMaxMessageSizeTest, ClientMessageAboveTheLimitNeverReachesTheServer) {
  FakeServer upstream(AnsweringServer());
  config::Config config = MakeConfig(upstream.port());
  config.proxy.max_message_size = 8192;
  ProxyUnderTest proxy(config);
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);

  ASSERT_TRUE(client.socket.Send(QueryMessage(std::string(9000, 'x'))));
  std::optional<ErrorReport> error = ReadFatalThenClose(client.socket);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->sqlstate, "08P01");
  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);
  ASSERT_TRUE(WaitFor([&] { return server_side->script_done(); }));
  EXPECT_EQ(TagsOf(server_side->received()), "X");
}

// When one read holds the tail of a streamed message and then a header with
// a bad length, the tail is forwarded first, so the ErrorResponse pgvalve
// sends lands after the whole DataRow, not inside it.
TEST(RelayServerViolationTest, BytesBeforeTheViolationAreNotOverwrittenByTheError) {
  const Bytes row = DataRowMessage(PatternBytes(100000, 5));
  FakeServer upstream([&](FakeConnection& connection) {
    AcceptStartup(connection);
    if (!connection.ReadMessage().ok()) return;
    // One write: the row's tail and the bad header arrive in the same read.
    connection.Send(Concat({row, RawHeader('D', 2)}));
    connection.ReadUntilClosed();
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  ASSERT_TRUE(client.socket.Send(QueryMessage("SELECT big")));

  Bytes got;
  ReadStatus end = client.socket.ReadUntilClosed(got);
  ASSERT_TRUE(IsClosed(end)) << ReadStatusName(end);
  // Correct outcomes: the row cut short by the close, or the whole row and
  // then FATAL 08P01. Never other bytes inside the row.
  const size_t differs_at = FirstDifference(got, row);
  ASSERT_EQ(differs_at, std::min(got.size(), row.size()))
      << "the client got " << got.size() << " bytes, wrong from byte " << differs_at
      << " of a " << row.size() << "-byte DataRow: " << Hex(std::span(got).subspan(differs_at), 16);
  if (got.size() > row.size()) {
    ASSERT_GE(got.size(), row.size() + 5) << "a partial message after the row";
    Message error_message{static_cast<char>(got[row.size()]),
                          Bytes(got.begin() + row.size() + 5, got.end())};
    std::optional<ErrorReport> error = ParseError(error_message);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->sqlstate, "08P01");
  }
}

// The same in the other direction: the tail of a CopyData and a bad header
// in one read; the server gets the whole CopyData, then the Terminate.
TEST(RelayClientViolationTest, TerminateIsNotWrittenIntoAnUnfinishedMessage) {
  const Bytes copy_data = CopyDataMessage(PatternBytes(100000, 6));
  std::mutex mutex;
  Bytes server_got;
  FakeServer upstream([&](FakeConnection& connection) {
    AcceptStartup(connection);
    if (!connection.ReadMessage().ok()) return;  // COPY ... FROM STDIN
    connection.Send(CopyInResponseMessage());
    Bytes raw;
    connection.ReadRawUntilClosed(raw);
    std::lock_guard lock(mutex);
    server_got = std::move(raw);
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  ASSERT_TRUE(client.socket.Send(QueryMessage("COPY t FROM STDIN")));
  ReceivedMessage copy_in = client.socket.ReadMessage();
  ASSERT_TRUE(copy_in.ok());
  ASSERT_EQ(copy_in.message.tag, 'G');

  ASSERT_TRUE(client.socket.Send(Concat({copy_data, RawHeader('d', 3)})));
  std::optional<ErrorReport> error = ReadFatalThenClose(client.socket);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->sqlstate, "08P01");

  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);
  ASSERT_TRUE(WaitFor([&] { return server_side->script_done(); }));
  std::lock_guard lock(mutex);
  // Correct outcomes: the CopyData cut short by the close, or the whole
  // CopyData and then a Terminate.
  const Bytes whole_then_terminate = Concat({copy_data, TerminateMessage()});
  const size_t differs_at = FirstDifference(server_got, whole_then_terminate);
  EXPECT_EQ(differs_at, server_got.size())
      << "the server got " << server_got.size() << " bytes, wrong from byte " << differs_at
      << " of a " << copy_data.size()
      << "-byte CopyData: " << Hex(std::span(server_got).subspan(differs_at), 16);
}

}  // namespace
}  // namespace pgvalve::proxy
