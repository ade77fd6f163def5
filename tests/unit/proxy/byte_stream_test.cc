// ByteStream's non-blocking paths, over a unix socketpair: the relay's
// StartReceive (below), reads of what is already there, and writes that go
// synchronously until the socket's buffer is full, then asynchronously.

#include "proxy/byte_stream.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/post.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "proxy/relay_buffer.h"
#include "tests/unit/proxy/stream_receiver.h"

namespace pgvalve::proxy {
namespace {

using stream_test::Receiver;
using stream_test::Send;
using stream_test::Text;


struct Pair {
  explicit Pair(asio::io_context& context) {
    UnixStream a(context);
    UnixStream b(context);
    asio::local::connect_pair(a, b);
    left.emplace(std::move(a));
    right.emplace(std::move(b));
  }
  std::optional<ByteStream> left;
  std::optional<ByteStream> right;
};

std::vector<std::byte> Pattern(size_t size) {
  std::vector<std::byte> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>((i * 131 + i / 4096) & 0xff);
  return bytes;
}

template <typename Body>
void RunCoroutine(asio::io_context& context, Body body) {
  bool finished = false;
  asio::co_spawn(context, [&]() -> Awaitable<void> {
    co_await body();
    finished = true;
  }, asio::detached);
  context.run();
  ASSERT_TRUE(finished);
}

TEST(ByteStreamTest, TryReadSomeSaysWouldBlockThenReadsThenSeesEof) {
  asio::io_context context;
  Pair pair(context);
  std::byte buffer[16];

  auto [nothing_error, nothing] = pair.left->TryReadSome(buffer);
  EXPECT_EQ(nothing_error, asio::error::would_block);
  EXPECT_EQ(nothing, 0u);

  const std::byte hello[] = {std::byte{'h'}, std::byte{'i'}};
  auto [sent_error, sent] = pair.right->TrySend(hello);
  ASSERT_FALSE(sent_error);
  ASSERT_EQ(sent, 2u);
  auto [read_error, read] = pair.left->TryReadSome(buffer);
  EXPECT_FALSE(read_error);
  EXPECT_EQ(read, 2u);
  EXPECT_EQ(buffer[1], std::byte{'i'});

  pair.right->Close();
  auto [eof_error, eof_read] = pair.left->TryReadSome(buffer);
  EXPECT_EQ(eof_error, asio::error::eof);
  EXPECT_EQ(eof_read, 0u);
}

TEST(ByteStreamTest, AnEmptyBufferReadsNothingWithoutError) {
  asio::io_context context;
  Pair pair(context);
  auto [error, read] = pair.left->TryReadSome({});
  EXPECT_FALSE(error);
  EXPECT_EQ(read, 0u);
}

TEST(ByteStreamTest, TrySendStopsWhenTheSocketIsFull) {
  asio::io_context context;
  Pair pair(context);
  const std::vector<std::byte> chunk = Pattern(64 * 1024);
  size_t total = 0;
  while (true) {
    auto [error, sent] = pair.left->TrySend(chunk);
    ASSERT_FALSE(error);
    if (sent == 0) break;
    total += sent;
    ASSERT_LT(total, size_t{1} << 30) << "the socket never filled";
  }
  EXPECT_GT(total, 0u);
}

TEST(ByteStreamTest, TrySendToAClosedPeerIsAnErrorNotASignal) {
  asio::io_context context;
  Pair pair(context);
  pair.right->Close();
  const std::byte byte[] = {std::byte{1}};
  auto [error, sent] = pair.left->TrySend(byte);
  EXPECT_TRUE(error);
  EXPECT_EQ(sent, 0u);
}

// More than any socket buffer holds: WriteAll sends what fits at once and
// the rest asynchronously, while the reader waits for readability and
// drains with TryReadSome, as a relay pump does.
TEST(ByteStreamTest, WriteAllDeliversEverythingInOrderPastAFullSocket) {
  asio::io_context context;
  Pair pair(context);
  const std::vector<std::byte> sent = Pattern(8 * 1024 * 1024);
  std::vector<std::byte> received;
  received.reserve(sent.size());
  std::optional<error_code> write_result;

  asio::co_spawn(context, [&]() -> Awaitable<void> {
    auto [error, written] = co_await pair.left->WriteAll(sent);
    EXPECT_EQ(written, sent.size());
    write_result = error;
  }, asio::detached);
  RunCoroutine(context, [&]() -> Awaitable<void> {
    std::vector<std::byte> buffer(32 * 1024);
    while (received.size() < sent.size()) {
      auto [wait_error] = co_await pair.right->WaitReadable();
      if (wait_error) break;
      auto [error, read] = pair.right->TryReadSome(buffer);
      if (error == asio::error::would_block) continue;
      if (error) break;
      received.insert(received.end(), buffer.begin(), buffer.begin() + read);
    }
  });

  ASSERT_TRUE(write_result.has_value());
  EXPECT_FALSE(*write_result);
  ASSERT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent);
}

// ByteStream::StartReceive on plain sockets (proxy/reactor_receive.h): the
// reactor performs the read when bytes arrive, the buffer holds storage only
// then, the callback never runs inside StartReceive, and a pending receive
// ends cleanly when cancelled and when its socket closes; when its stream or
// its io_context goes away under it, the callback is never called.

TEST(ReactorReceiveTest, BytesAlreadyThereAreReceived) {
  asio::io_context context;
  Pair pair(context);
  Send(*pair.right, "hello");
  Receiver receiver(*pair.left, 64);
  receiver.Start();
  receiver.Finish(context);
  EXPECT_FALSE(receiver.error());
  EXPECT_EQ(Text(receiver.buffer), "hello");
}

TEST(ReactorReceiveTest, APendingReceiveHoldsNoStorageUntilBytesArrive) {
  asio::io_context context;
  Pair pair(context);
  Receiver receiver(*pair.left, 64);
  receiver.Start();
  context.restart();
  context.poll();
  EXPECT_FALSE(receiver.result);
  EXPECT_FALSE(receiver.buffer.holds_storage());
  Send(*pair.right, "later");
  receiver.Finish(context);
  EXPECT_FALSE(receiver.error());
  EXPECT_EQ(Text(receiver.buffer), "later");
}

TEST(ReactorReceiveTest, AnEmptiedBufferGivesItsStorageBackWhileTheNextReceiveWaits) {
  asio::io_context context;
  Pair pair(context);
  Send(*pair.right, "first");
  Receiver receiver(*pair.left, 64);
  receiver.Start();
  receiver.Finish(context);
  receiver.buffer.Consume(receiver.result->second);
  EXPECT_TRUE(receiver.buffer.holds_storage());
  receiver.Start();
  context.restart();
  context.poll();
  EXPECT_FALSE(receiver.buffer.holds_storage());
  Send(*pair.right, "second");
  receiver.Finish(context);
  EXPECT_FALSE(receiver.error());
  EXPECT_EQ(Text(receiver.buffer), "second");
}

TEST(ReactorReceiveTest, ABufferFilledByOneReceiveIsFollowedByTheRest) {
  asio::io_context context;
  Pair pair(context);
  Send(*pair.right, "0123456789abcdef-and-the-rest");
  Receiver receiver(*pair.left, 16);
  receiver.Start();
  receiver.Finish(context);
  EXPECT_EQ(receiver.result->second, 16u);
  EXPECT_EQ(Text(receiver.buffer), "0123456789abcdef");
  receiver.buffer.Consume(16);
  // No new edge comes for the rest: the receive must read at once.
  receiver.Start();
  receiver.Finish(context);
  EXPECT_FALSE(receiver.error());
  EXPECT_EQ(Text(receiver.buffer), "-and-the-rest");
}

TEST(ReactorReceiveTest, AReceiveAppendsAfterBytesKeptInTheBuffer) {
  asio::io_context context;
  Pair pair(context);
  Send(*pair.right, "part");
  Receiver receiver(*pair.left, 64);
  receiver.Start();
  receiver.Finish(context);
  receiver.Start();
  Send(*pair.right, "ial");
  receiver.Finish(context);
  EXPECT_FALSE(receiver.error());
  EXPECT_EQ(Text(receiver.buffer), "partial");
}

TEST(ReactorReceiveTest, ThePeerClosingIsEof) {
  asio::io_context context;
  Pair pair(context);
  Receiver receiver(*pair.left, 64);
  receiver.Start();
  pair.right->Close();
  receiver.Finish(context);
  EXPECT_EQ(receiver.error(), asio::error::eof);
  EXPECT_EQ(receiver.result->second, 0u);
  EXPECT_FALSE(receiver.buffer.holds_storage());
}

TEST(ReactorReceiveTest, ReadFirstSeesACloseThatCameWithTheLastBytes) {
  asio::io_context context;
  Pair pair(context);
  Send(*pair.right, "bye");
  pair.right->Close();
  Receiver receiver(*pair.left, 64);
  receiver.Start();
  receiver.Finish(context);
  EXPECT_EQ(Text(receiver.buffer), "bye");
  // The edge that brought the bytes also brought the close; only a read
  // tried at once finds it.
  receiver.Start(ReceiveStart::kReadFirst);
  receiver.Finish(context);
  EXPECT_EQ(receiver.error(), asio::error::eof);
}

TEST(ReactorReceiveTest, CancelAbortsAndTheNextReceiveWorks) {
  asio::io_context context;
  Pair pair(context);
  Receiver receiver(*pair.left, 64);
  receiver.Start();
  context.restart();
  context.poll();
  pair.left->CancelReceive();
  receiver.Finish(context);
  EXPECT_EQ(receiver.error(), asio::error::operation_aborted);
  EXPECT_FALSE(receiver.buffer.holds_storage());
  receiver.Start();
  Send(*pair.right, "after");
  receiver.Finish(context);
  EXPECT_FALSE(receiver.error());
  EXPECT_EQ(Text(receiver.buffer), "after");
  EXPECT_EQ(receiver.calls, 2);
}

TEST(ReactorReceiveTest, CancelWithNothingPendingDoesNothing) {
  asio::io_context context;
  Pair pair(context);
  Receiver receiver(*pair.left, 64);
  pair.left->CancelReceive();
  Send(*pair.right, "still");
  receiver.Start();
  receiver.Finish(context);
  EXPECT_FALSE(receiver.error());
  EXPECT_EQ(Text(receiver.buffer), "still");
}

TEST(ReactorReceiveTest, ClosingTheSocketAbortsAPendingReceive) {
  asio::io_context context;
  Pair pair(context);
  Receiver receiver(*pair.left, 64);
  receiver.Start();
  context.restart();
  context.poll();
  pair.left->Close();
  receiver.Finish(context);
  EXPECT_EQ(receiver.error(), asio::error::operation_aborted);
  EXPECT_EQ(receiver.result->second, 0u);
  // A closed socket refuses a new receive, through the callback.
  receiver.Start();
  receiver.Finish(context);
  EXPECT_TRUE(receiver.error());
}

TEST(ReactorReceiveTest, AStreamDestroyedUnderAPendingReceiveNeverCallsBack) {
  // Under AddressSanitizer, a leak or a use after free here fails the test.
  asio::io_context context;
  auto pair = std::make_unique<Pair>(context);
  int calls = 0;
  {
    Receiver receiver(*pair->left, 64);
    receiver.Start();
    context.poll();
    pair.reset();
    context.run();
    calls = receiver.calls;
  }
  EXPECT_EQ(calls, 0);
}

TEST(ReactorReceiveTest, AnIoContextDestroyedUnderAPendingReceiveFreesEverything) {
  // As a relaying session: its pending work (here a timer's handler) owns
  // it, so the io_context's destruction destroys the stream with the
  // receive still pending. Under AddressSanitizer, a leak or a use after
  // free here fails the test.
  auto context = std::make_unique<asio::io_context>();
  struct Session {
    explicit Session(asio::io_context& context)
        : pair(context), receiver(*pair.left, 64), timer(context, asio::steady_timer::time_point::max()) {}
    Pair pair;
    Receiver receiver;
    asio::steady_timer timer;
  };
  auto session = std::make_shared<Session>(*context);
  session->receiver.Start();
  session->timer.async_wait([session](error_code) { ADD_FAILURE() << "the timer fired"; });
  std::weak_ptr<Session> watch = session;
  session.reset();
  context->poll();
  ASSERT_FALSE(watch.expired());
  context.reset();
  EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace pgvalve::proxy
