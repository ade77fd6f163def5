#pragma once
// A blocking loopback TCP socket for component tests, used both as the test
// client and as the fake server's side of a connection. Every read waits at
// most a given time (poll), every write is bounded by SO_SNDTIMEO, and
// SIGPIPE is never raised, so no test can hang on the network.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pgvalve::proxy::testutil {

using Bytes = std::vector<std::byte>;
using Millis = std::chrono::milliseconds;

// The hang guard for every single blocking step.
inline constexpr Millis kIoTimeout{5000};

enum class ReadStatus {
  kOk,
  kEof,       // the peer closed its sending side
  kReset,     // the peer aborted the connection (RST)
  kTimedOut,  // nothing more arrived in time
  kError,     // any other failure, or a nonsense frame length
};

std::string_view ReadStatusName(ReadStatus status);
// For gtest's failure messages.
inline void PrintTo(ReadStatus status, std::ostream* out) { *out << ReadStatusName(status); }
inline bool IsClosed(ReadStatus status) {
  return status == ReadStatus::kEof || status == ReadStatus::kReset;
}

// One tagged v3 message: tag byte and body (after the length field).
struct Message {
  char tag = 0;
  Bytes body;
};

struct ReceivedMessage {
  ReadStatus status = ReadStatus::kError;
  Message message;  // valid when status == kOk
  bool ok() const { return status == ReadStatus::kOk; }
};

class TestSocket {
 public:
  TestSocket() = default;
  explicit TestSocket(int fd);
  ~TestSocket();
  TestSocket(TestSocket&& other) noexcept;
  TestSocket& operator=(TestSocket&& other) noexcept;
  TestSocket(const TestSocket&) = delete;
  TestSocket& operator=(const TestSocket&) = delete;

  // Connects to 127.0.0.1:port; an invalid socket (valid() false) on failure.
  static TestSocket Connect(uint16_t port, Millis timeout = kIoTimeout);

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Writes all of `bytes`; false if the peer is gone or the write stalled.
  bool Send(std::span<const std::byte> bytes);
  bool Send(std::string_view bytes) { return Send(std::as_bytes(std::span(bytes))); }

  // Fills all of `out`.
  ReadStatus ReadExactly(std::span<std::byte> out, Millis timeout = kIoTimeout);
  // One tagged message. Lengths below 4 or above 64 MiB are kError.
  ReceivedMessage ReadMessage(Millis timeout = kIoTimeout);
  // Everything that arrives until the peer closes; kTimedOut if it did not
  // close within `timeout`.
  ReadStatus ReadUntilClosed(Bytes& out, Millis timeout = kIoTimeout);

  // Ends our sending side (the peer reads EOF).
  void ShutdownSend();
  // Shuts down both directions, unblocking a reader on another thread,
  // without releasing the descriptor.
  void ShutdownBoth();
  // Closes with SO_LINGER 0, so the peer sees a reset.
  void Abort();
  void Close();

 private:
  int fd_ = -1;
};

}  // namespace pgvalve::proxy::testutil
