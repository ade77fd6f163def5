// A request held by PAUSE for longer than hold_timeout is answered with
// ERROR 57P03 and never reaches the server: the rest of it is read and
// dropped (a Query to its end, an extended-protocol batch through its
// Sync), the client gets the ReadyForQuery that ends a failed request, and
// the session goes on as before. hold_timeout is 100 ms here; each test
// sends the part of the request that follows the hold only after the
// 57P03, so that the discarding, not the hold, deals with it.

#include <chrono>
#include <memory>

#include "gtest/gtest.h"
#include "proxy/database_gate.h"
#include "tests/unit/proxy/fake_server.h"
#include "tests/unit/proxy/proxy_under_test.h"
#include "tests/unit/proxy/wire.h"

namespace pgvalve::proxy {
namespace {

using namespace testutil;

config::Config ShortHoldConfig(uint16_t upstream_port) {
  config::Config config = MakeConfig(upstream_port);
  config.proxy.hold_timeout = Millis(100);
  return config;
}

// Reads the 57P03 that answers a request held too long.
void ExpectHoldTimeoutError(TestSocket& client) {
  ReceivedMessage received = client.ReadMessage();
  ASSERT_TRUE(received.ok()) << ReadStatusName(received.status);
  std::optional<ErrorReport> error = ParseError(received.message);
  ASSERT_EQ(received.message.tag, 'E') << Hex(received.message.body);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->severity, "ERROR");
  EXPECT_EQ(error->sqlstate, "57P03");
  EXPECT_NE(error->message.find("hold_timeout (100 ms)"), std::string::npos) << error->message;
}

// The held request's end: the ReadyForQuery pgvalve sends once it has
// dropped the rest, then the answer to the Query that followed it.
void ExpectEndOfDiscardThenAnswer(TestSocket& client) {
  MessagesRead end = ReadUntil(client, 'Z');
  ASSERT_EQ(end.status, ReadStatus::kOk) << end.Tags();
  ASSERT_EQ(end.Tags(), "Z") << "the discarded request was answered";
  EXPECT_EQ(static_cast<char>(end.messages[0].body.at(0)), 'I');
  MessagesRead answer = ReadUntil(client, 'Z');
  EXPECT_EQ(answer.Tags(), "CZ");
}

// What the server got: only the Query sent after the discarded request.
void ExpectServerGotOnly(FakeServer& upstream, std::string_view sql) {
  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);
  ASSERT_TRUE(WaitFor([&] { return !server_side->received().empty(); }));
  const std::vector<Message> received = server_side->received();
  EXPECT_EQ(TagsOf(received), "Q");
  EXPECT_EQ(QueryText(received.front()), sql);
}

// A session that has started, on database "app" paused since, behind a
// proxy whose hold_timeout is 100 ms.
class DiscardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    proxy_ = std::make_unique<ProxyUnderTest>(ShortHoldConfig(upstream_.port()));
    ASSERT_TRUE(proxy_->ok());
    client_ = StartSession(*proxy_);
    ASSERT_TRUE(client_.ready);
    gate_ = proxy_->server().databases().Gate("app");
    gate_->Pause(StateOrigin::kAdminCommand);
  }

  FakeServer upstream_{AnsweringServer()};
  std::unique_ptr<ProxyUnderTest> proxy_;
  TestClient client_;
  std::shared_ptr<DatabaseGate> gate_;
};

// How much of the held Query is sent before the 57P03: its header only,
// part of its body, or all of it.
class DiscardQueryTest : public DiscardTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(DiscardQueryTest, QueryHeldTooLongIsAnswered57P03AndTheRestOfItIsDropped) {

  const Bytes held = QueryMessage("SELECT 'held too long'");
  const size_t sent_first = std::min(GetParam(), held.size());
  ASSERT_TRUE(client_.socket.Send(std::span(held).first(sent_first)));
  ASSERT_NO_FATAL_FAILURE(ExpectHoldTimeoutError(client_.socket));
  // Resumed, so that the Query after the dropped one runs at once.
  gate_->Resume();
  ASSERT_TRUE(client_.socket.Send(
      Concat({std::span(held).subspan(sent_first), QueryMessage("SELECT 'after'")})));

  ASSERT_NO_FATAL_FAILURE(ExpectEndOfDiscardThenAnswer(client_.socket));
  ExpectServerGotOnly(upstream_, "SELECT 'after'");
  EXPECT_TRUE(QueryRoundTrip(client_.socket)) << "the session did not go on normally";
  EXPECT_EQ(gate_->Snapshot().held, 0u);
}

INSTANTIATE_TEST_SUITE_P(SentBeforeTheTimeout, DiscardQueryTest, ::testing::Values(5, 9, 1000),
                         [](const auto& info) {
                           return info.param == 5   ? std::string("Header")
                                  : info.param == 9 ? std::string("PartOfTheBody")
                                                    : std::string("Whole");
                         });

// How many of Parse, Bind, Execute, Sync are sent before the 57P03.
class DiscardBatchTest : public DiscardTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(DiscardBatchTest, BatchHeldTooLongIsAnswered57P03AndDroppedThroughItsSync) {

  const Bytes batch[] = {ParseMessage("", "SELECT 'held too long'"), BindMessage("", ""),
                         ExecuteMessage(""), SyncMessage()};
  const size_t sent_first = GetParam();
  Bytes first;
  Bytes rest;
  for (size_t i = 0; i < std::size(batch); ++i) {
    Bytes& part = i < sent_first ? first : rest;
    part.insert(part.end(), batch[i].begin(), batch[i].end());
  }
  ASSERT_TRUE(client_.socket.Send(first));
  ASSERT_NO_FATAL_FAILURE(ExpectHoldTimeoutError(client_.socket));
  gate_->Resume();
  ASSERT_TRUE(client_.socket.Send(Concat({rest, QueryMessage("SELECT 'after'")})));

  ASSERT_NO_FATAL_FAILURE(ExpectEndOfDiscardThenAnswer(client_.socket));
  ExpectServerGotOnly(upstream_, "SELECT 'after'");
  EXPECT_TRUE(QueryRoundTrip(client_.socket)) << "the session did not go on normally";
  EXPECT_EQ(gate_->Snapshot().held, 0u);
}

INSTANTIATE_TEST_SUITE_P(MessagesSentBeforeTheTimeout, DiscardBatchTest, ::testing::Values(1, 2, 3, 4),
                         [](const auto& info) { return std::to_string(info.param); });

// The bytes being dropped are still framed messages; a client that breaks
// the framing meanwhile is told so and its session ends, as anywhere else.
TEST_F(DiscardTest, BrokenFramingWhileDroppingAHeldRequestEndsTheSessionWith08P01) {

  ASSERT_TRUE(client_.socket.Send(ParseMessage("", "SELECT 'held too long'")));
  ASSERT_NO_FATAL_FAILURE(ExpectHoldTimeoutError(client_.socket));
  // A Bind whose length field (2) is below the minimum of 4.
  ASSERT_TRUE(client_.socket.Send(RawHeader('B', 2)));

  std::optional<ErrorReport> error = ReadFatalThenClose(client_.socket);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->sqlstate, "08P01");
  auto server_side = upstream_.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);
  ASSERT_TRUE(server_side->WaitUntilDone());
  EXPECT_EQ(TagsOf(server_side->received()), "X") << "only the Terminate reaches the server";
  gate_->Resume();
}

}  // namespace
}  // namespace pgvalve::proxy
