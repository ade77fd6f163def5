// ByteStream's non-blocking paths, over a unix socketpair: the relay's
// Receive (below), reads of what is already there, and writes that go
// synchronously until the socket's buffer is full, then asynchronously.

#include "proxy/byte_stream.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/post.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "proxy/relay_buffer.h"

namespace pgvalve::proxy {
namespace {

using namespace asio::experimental::awaitable_operators;

struct Pair {
  explicit Pair(asio::io_context& context) {
    unix_socket::socket a(context);
    unix_socket::socket b(context);
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

// ByteStream::Receive on plain sockets (proxy/reactor_receive.h): the
// reactor performs the read when bytes arrive, the buffer holds storage only
// then, and a pending receive ends cleanly when cancelled, when its socket
// closes, and when the io_context goes away under it.

void Send(ByteStream& stream, std::string_view text) {
  auto [error, sent] = stream.TrySend(std::as_bytes(std::span(text)));
  ASSERT_FALSE(error);
  ASSERT_EQ(sent, text.size());
}

std::string Text(RelayBuffer& buffer) {
  auto filled = buffer.filled();
  return std::string(reinterpret_cast<const char*>(filled.data()), filled.size());
}

TEST(ReactorReceiveTest, BytesAlreadyThereAreReceivedAtOnce) {
  asio::io_context context;
  Pair pair(context);
  Send(*pair.right, "hello");
  RelayBuffer buffer(64);
  RunCoroutine(context, [&]() -> Awaitable<void> {
    auto [error, read] = co_await pair.left->Receive(buffer);
    EXPECT_FALSE(error);
    EXPECT_EQ(read, 5u);
    buffer.Commit(read);
    EXPECT_EQ(Text(buffer), "hello");
  });
}

TEST(ReactorReceiveTest, APendingReceiveHoldsNoStorageUntilBytesArrive) {
  asio::io_context context;
  Pair pair(context);
  RelayBuffer buffer(64);
  // Runs once the receive below is pending: the context runs one handler
  // at a time, and the receive is started before this is posted.
  bool storage_while_pending = true;
  RunCoroutine(context, [&]() -> Awaitable<void> {
    asio::post(context, [&] {
      storage_while_pending = buffer.holds_storage();
      Send(*pair.right, "later");
    });
    auto [error, read] = co_await pair.left->Receive(buffer);
    EXPECT_FALSE(error);
    buffer.Commit(read);
    EXPECT_EQ(Text(buffer), "later");
  });
  EXPECT_FALSE(storage_while_pending);
}

TEST(ReactorReceiveTest, AnEmptiedBufferGivesItsStorageBackWhileTheNextReceiveWaits) {
  asio::io_context context;
  Pair pair(context);
  Send(*pair.right, "first");
  RelayBuffer buffer(64);
  bool storage_while_pending = true;
  RunCoroutine(context, [&]() -> Awaitable<void> {
    auto [error, read] = co_await pair.left->Receive(buffer);
    buffer.Commit(read);
    buffer.Consume(read);
    EXPECT_TRUE(buffer.holds_storage());
    asio::post(context, [&] {
      storage_while_pending = buffer.holds_storage();
      Send(*pair.right, "second");
    });
    std::tie(error, read) = co_await pair.left->Receive(buffer);
    EXPECT_FALSE(error);
    buffer.Commit(read);
    EXPECT_EQ(Text(buffer), "second");
  });
  EXPECT_FALSE(storage_while_pending);
}

TEST(ReactorReceiveTest, ABufferFilledByOneReceiveIsFollowedByTheRest) {
  asio::io_context context;
  Pair pair(context);
  Send(*pair.right, "0123456789abcdef-and-the-rest");
  RelayBuffer buffer(16);
  RunCoroutine(context, [&]() -> Awaitable<void> {
    auto [error, read] = co_await pair.left->Receive(buffer);
    EXPECT_FALSE(error);
    EXPECT_EQ(read, 16u);
    buffer.Commit(read);
    EXPECT_EQ(Text(buffer), "0123456789abcdef");
    buffer.Consume(16);
    std::tie(error, read) = co_await pair.left->Receive(buffer);
    EXPECT_FALSE(error);
    buffer.Commit(read);
    EXPECT_EQ(Text(buffer), "-and-the-rest");
  });
}

TEST(ReactorReceiveTest, AReceiveAppendsAfterBytesKeptInTheBuffer) {
  asio::io_context context;
  Pair pair(context);
  Send(*pair.right, "part");
  RelayBuffer buffer(64);
  RunCoroutine(context, [&]() -> Awaitable<void> {
    auto [error, read] = co_await pair.left->Receive(buffer);
    buffer.Commit(read);
    asio::post(context, [&] { Send(*pair.right, "ial"); });
    std::tie(error, read) = co_await pair.left->Receive(buffer);
    EXPECT_FALSE(error);
    buffer.Commit(read);
    EXPECT_EQ(Text(buffer), "partial");
  });
}

TEST(ReactorReceiveTest, ThePeerClosingIsEof) {
  asio::io_context context;
  Pair pair(context);
  RelayBuffer buffer(64);
  RunCoroutine(context, [&]() -> Awaitable<void> {
    asio::post(context, [&] { pair.right->Close(); });
    auto [error, read] = co_await pair.left->Receive(buffer);
    EXPECT_EQ(error, asio::error::eof);
    EXPECT_EQ(read, 0u);
    EXPECT_FALSE(buffer.holds_storage());
  });
}

TEST(ReactorReceiveTest, CancellingThroughTheSlotAbortsAndTheNextReceiveWorks) {
  asio::io_context context;
  Pair pair(context);
  RelayBuffer buffer(64);
  RunCoroutine(context, [&]() -> Awaitable<void> {
    asio::steady_timer timer(context, std::chrono::steady_clock::now());
    // The timer wins; the parallel group cancels the receive through its
    // cancellation slot and waits for it to end.
    auto winner = co_await (pair.left->Receive(buffer) || timer.async_wait(asio::use_awaitable));
    EXPECT_EQ(winner.index(), 1u);
    EXPECT_FALSE(buffer.holds_storage());
    asio::post(context, [&] { Send(*pair.right, "after"); });
    auto [error, read] = co_await pair.left->Receive(buffer);
    EXPECT_FALSE(error);
    buffer.Commit(read);
    EXPECT_EQ(Text(buffer), "after");
  });
}

TEST(ReactorReceiveTest, ClosingTheSocketAbortsAPendingReceive) {
  asio::io_context context;
  Pair pair(context);
  RelayBuffer buffer(64);
  RunCoroutine(context, [&]() -> Awaitable<void> {
    asio::post(context, [&] { pair.left->Close(); });
    auto [error, read] = co_await pair.left->Receive(buffer);
    EXPECT_EQ(error, asio::error::operation_aborted);
    EXPECT_EQ(read, 0u);
    // A closed socket refuses a new receive at once.
    std::tie(error, read) = co_await pair.left->Receive(buffer);
    EXPECT_TRUE(error);
  });
}

TEST(ReactorReceiveTest, AStreamDestroyedUnderAPendingReceiveCompletesIt) {
  asio::io_context context;
  auto pair = std::make_unique<Pair>(context);
  RelayBuffer buffer(64);
  RunCoroutine(context, [&]() -> Awaitable<void> {
    asio::post(context, [&] { pair.reset(); });
    auto [error, read] = co_await pair->left->Receive(buffer);
    EXPECT_EQ(error, asio::error::operation_aborted);
    EXPECT_EQ(read, 0u);
  });
}

TEST(ReactorReceiveTest, AnIoContextDestroyedUnderAPendingReceiveFreesEverything) {
  // Under AddressSanitizer, a leak or a use after free here fails the test:
  // the stream lives in the coroutine, which is destroyed with the pending
  // receive's handler.
  auto context = std::make_unique<asio::io_context>();
  bool started = false;
  asio::co_spawn(
      *context,
      [&]() -> Awaitable<void> {
        Pair pair(*context);
        RelayBuffer buffer(64);
        started = true;
        co_await pair.left->Receive(buffer);
        ADD_FAILURE() << "the receive completed";
      },
      asio::detached);
  context->run_one();
  ASSERT_TRUE(started);
  context.reset();
}

}  // namespace
}  // namespace pgvalve::proxy
