// Framing through the relay: messages of any size, split anywhere, pass
// through intact in both directions.

#include <algorithm>
#include <atomic>
#include <thread>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/unit/proxy/fake_server.h"
#include "tests/unit/proxy/proxy_under_test.h"
#include "tests/unit/proxy/wire.h"

namespace pgvalve::proxy {
namespace {

using namespace testutil;

constexpr size_t kLarge = 5 * 1024 * 1024;

// Sends `bytes` in pieces of uneven sizes, so they arrive over many reads
// and message boundaries fall anywhere in them.
bool SendInPieces(FakeConnection& connection, std::span<const std::byte> bytes) {
  const size_t sizes[] = {3, 7919, 1, 65536, 4093, 2};
  for (size_t i = 0; !bytes.empty(); ++i) {
    size_t piece = std::min(bytes.size(), sizes[i % std::size(sizes)]);
    if (!connection.Send(bytes.first(piece))) return false;
    bytes = bytes.subspan(piece);
  }
  return true;
}

TEST(RelayLargeMessageTest, FiveMegabyteDataRowFromTheServerArrivesIntact) {
  const Bytes column = PatternBytes(kLarge, 11);
  const Bytes row = DataRowMessage(column);
  FakeServer upstream([&](FakeConnection& connection) {
    AcceptStartup(connection);
    if (!connection.ReadMessage().ok()) return;
    SendInPieces(connection,
                 Concat({row, CommandCompleteMessage("SELECT 1"), ReadyForQueryMessage('I')}));
    AnswerQueriesUntilClosed(connection);
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);

  ASSERT_TRUE(client.socket.Send(QueryMessage("SELECT big")));
  MessagesRead reply = ReadUntil(client.socket, 'Z');
  ASSERT_EQ(reply.status, ReadStatus::kOk) << ReadStatusName(reply.status) << " after "
                                           << reply.Tags();
  ASSERT_EQ(reply.Tags(), "DCZ");
  EXPECT_EQ(reply.messages[0].body.size(), row.size() - 5);
  EXPECT_EQ(Checksum(Encode(reply.messages[0])), Checksum(row));
  EXPECT_EQ(Encode(reply.messages[2]), ReadyForQueryMessage('I'));
  EXPECT_TRUE(QueryRoundTrip(client.socket)) << "framing must survive the large message";
}

TEST(RelayLargeMessageTest, FiveMegabyteCopyDataFromTheClientArrivesIntact) {
  const Bytes data = PatternBytes(kLarge, 12);
  const Bytes copy_data = CopyDataMessage(data);
  std::atomic<uint64_t> checksum_seen{0};
  FakeServer upstream([&](FakeConnection& connection) {
    AcceptStartup(connection);
    if (!connection.ReadMessage().ok()) return;  // COPY ... FROM STDIN
    connection.Send(CopyInResponseMessage());
    ReceivedMessage received = connection.ReadMessage();
    if (!received.ok()) return;
    checksum_seen = Checksum(Encode(received.message));
    if (!connection.ReadMessage().ok()) return;  // CopyDone
    connection.Send(Concat({CommandCompleteMessage("COPY 1"), ReadyForQueryMessage('I')}));
    AnswerQueriesUntilClosed(connection);
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);

  ASSERT_TRUE(client.socket.Send(QueryMessage("COPY t FROM STDIN")));
  ReceivedMessage copy_in = client.socket.ReadMessage();
  ASSERT_TRUE(copy_in.ok());
  ASSERT_EQ(copy_in.message.tag, 'G');
  // In pieces, so the header and body straddle many reads on pgvalve's side.
  std::span<const std::byte> rest(copy_data);
  for (size_t piece : {size_t{2}, size_t{3}, size_t{100000}}) {
    ASSERT_TRUE(client.socket.Send(rest.first(piece)));
    rest = rest.subspan(piece);
  }
  ASSERT_TRUE(client.socket.Send(rest));
  ASSERT_TRUE(client.socket.Send(CopyDoneMessage()));

  MessagesRead reply = ReadUntil(client.socket, 'Z');
  ASSERT_EQ(reply.status, ReadStatus::kOk) << ReadStatusName(reply.status);
  EXPECT_EQ(reply.Tags(), "CZ");
  EXPECT_EQ(checksum_seen.load(), Checksum(copy_data));
  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);
  EXPECT_EQ(TagsOf(server_side->received()), "Qdc");
}

TEST(RelayLargeMessageTest, ManySmallRowsInOneBurstArriveInOrder) {
  constexpr int kRows = 20000;
  Bytes burst;
  for (int i = 0; i < kRows; ++i) {
    Bytes row = DataRowMessage(AsBytes(fmt::format("row {}", i)));
    burst.insert(burst.end(), row.begin(), row.end());
  }
  burst = Concat({burst, CommandCompleteMessage("SELECT 20000"), ReadyForQueryMessage('I')});
  FakeServer upstream([&](FakeConnection& connection) {
    AcceptStartup(connection);
    if (!connection.ReadMessage().ok()) return;
    connection.Send(burst);
    AnswerQueriesUntilClosed(connection);
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);

  ASSERT_TRUE(client.socket.Send(QueryMessage("SELECT generate_series(0, 19999)")));
  MessagesRead reply = ReadUntil(client.socket, 'Z');
  ASSERT_EQ(reply.status, ReadStatus::kOk);
  ASSERT_EQ(reply.messages.size(), size_t{kRows} + 2);
  for (int i = 0; i < kRows; ++i) {
    const Bytes expected = DataRowMessage(AsBytes(fmt::format("row {}", i)));
    ASSERT_EQ(Encode(reply.messages[i]), expected) << "row " << i;
  }
}

TEST(RelayLargeMessageTest, StartupReplyTrickledByteByByteIsStillRewritten) {
  const Bytes secret = {std::byte{9}, std::byte{8}, std::byte{7}, std::byte{6}};
  FakeServer upstream([&](FakeConnection& connection) {
    const Bytes reply = StartupReply(4242, secret);
    for (size_t i = 0; i < reply.size(); ++i) {
      if (!connection.Send(std::span(reply).subspan(i, 1))) return;
      std::this_thread::sleep_for(Millis(1));
    }
    AnswerQueriesUntilClosed(connection);
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  ASSERT_TRUE(client.key.has_value());
  EXPECT_NE(client.key->pid, 4242);
  EXPECT_NE(client.key->secret, secret);
  auto sessions = proxy.server().sessions().All();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0]->backend_pid(), 4242);
  EXPECT_EQ(sessions[0]->virtual_pid(), client.key->pid);
}

}  // namespace
}  // namespace pgvalve::proxy
