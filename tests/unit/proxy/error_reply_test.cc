// SendError/SendFatal: pgvalve's own ErrorResponse, written to a real
// socket and read back on the other end.

#include "proxy/error_reply.h"

#include <optional>

#include "gtest/gtest.h"
#include "tests/unit/proxy/test_socket.h"
#include "tests/unit/proxy/wire.h"

#if defined(__SANITIZE_ADDRESS__)
// Makes AddressSanitizer report reads of a returned function's stack frame
// (stack-use-after-return), the bug SendFatalTest guards against.
extern "C" const char* __asan_default_options() { return "detect_stack_use_after_return=1"; }
#endif

namespace pgvalve::proxy {
namespace {

using namespace testutil;

// A connected pair: one end as pgvalve's ByteStream, the other as the
// peer's blocking TestSocket.
struct SocketPair {
  asio::io_context io;
  std::optional<ByteStream> stream;
  TestSocket peer;

  SocketPair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
    peer = TestSocket::Connect(acceptor.local_endpoint().port());
    stream.emplace(acceptor.accept(io));
  }
};

// Overwrites the stack below the caller with a recognizable pattern, as any
// unrelated call between building an operation and awaiting it may.
[[gnu::noinline]] void ScribbleStack() {
  volatile unsigned char junk[8192];
  for (size_t i = 0; i < sizeof junk; ++i) junk[i] = 0xAB;
}

TEST(SendErrorTest, WritesOneErrorResponseWithEveryField) {
  SocketPair pair;
  const protocol::ErrorSpec spec{protocol::Severity::kError, "55000", "database is paused",
                                 "detail text", "hint text"};
  asio::co_spawn(pair.io, SendError(*pair.stream, spec), asio::detached);
  pair.io.run();

  ReceivedMessage received = pair.peer.ReadMessage();
  ASSERT_TRUE(received.ok()) << ReadStatusName(received.status);
  std::optional<ErrorReport> error = ParseError(received.message);
  ASSERT_TRUE(error.has_value()) << Hex(received.message.body);
  EXPECT_EQ(received.message.tag, 'E');
  EXPECT_EQ(error->severity, "ERROR");
  EXPECT_EQ(error->sqlstate, "55000");
  EXPECT_EQ(error->message, "database is paused");
  EXPECT_EQ(error->detail, "detail text");
  EXPECT_EQ(error->hint, "hint text");
}

// SendFatal builds its ErrorSpec as a temporary and hands it to the
// coroutine SendError, which starts suspended: SendError must own a copy
// (commit 6c04264). When it took the spec by reference, every
// `co_await SendFatal(...)` read a dead stack object, so clients got
// ErrorResponses with garbage fields or the worker segfaulted in
// MessageWriter::CString. The scribble makes that deterministic; the
// sanitizer build reports stack-use-after-return.
TEST(SendFatalTest, ErrorIsIntactWhenAwaitedAfterOtherCalls) {
  SocketPair pair;
  asio::co_spawn(
      pair.io,
      [&]() -> Awaitable<void> {
        Awaitable<void> pending =
            SendFatal(*pair.stream, "57P01", "terminating connection due to administrator command");
        ScribbleStack();
        co_await std::move(pending);
      },
      asio::detached);
  pair.io.run();

  ReceivedMessage received = pair.peer.ReadMessage();
  ASSERT_TRUE(received.ok()) << ReadStatusName(received.status);
  std::optional<ErrorReport> error = ParseError(received.message);
  ASSERT_TRUE(error.has_value()) << Hex(received.message.body);
  EXPECT_EQ(error->severity, "FATAL");
  EXPECT_EQ(error->sqlstate, "57P01");
  EXPECT_EQ(error->message, "terminating connection due to administrator command");
}

}  // namespace
}  // namespace pgvalve::proxy
