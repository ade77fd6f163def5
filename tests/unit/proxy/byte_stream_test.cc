// ByteStream's non-blocking paths, over a unix socketpair: the relay reads
// only what is already there after waiting for readability, and writes
// synchronously until the socket's buffer is full, then asynchronously.

#include "proxy/byte_stream.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>

#include <cstddef>
#include <optional>
#include <vector>

#include "gtest/gtest.h"

namespace pgvalve::proxy {
namespace {

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

}  // namespace
}  // namespace pgvalve::proxy
