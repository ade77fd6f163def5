#include "tests/unit/proxy/test_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace pgvalve::proxy::testutil {
namespace {

using Clock = std::chrono::steady_clock;

// A test message above this is a framing error, not a big message.
constexpr uint32_t kMaxTestMessageLength = 64u << 20;

int MillisLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Waits until `fd` is readable; false on timeout.
bool WaitReadable(int fd, Clock::time_point deadline) {
  while (true) {
    pollfd entry{.fd = fd, .events = POLLIN, .revents = 0};
    int ready = ::poll(&entry, 1, MillisLeft(deadline));
    if (ready > 0) return true;
    if (ready == 0) return false;
    if (errno != EINTR) return true;  // let recv report the error
  }
}

}  // namespace

std::string_view ReadStatusName(ReadStatus status) {
  switch (status) {
    case ReadStatus::kOk: return "ok";
    case ReadStatus::kEof: return "EOF";
    case ReadStatus::kReset: return "reset";
    case ReadStatus::kTimedOut: return "timed out";
    case ReadStatus::kError: return "error";
  }
  return "unknown";
}

TestSocket::TestSocket(int fd) : fd_(fd) {
  if (fd_ < 0) return;
  timeval send_timeout{.tv_sec = kIoTimeout.count() / 1000, .tv_usec = 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

TestSocket::~TestSocket() { Close(); }

TestSocket::TestSocket(TestSocket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

TestSocket& TestSocket::operator=(TestSocket&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

TestSocket TestSocket::Connect(uint16_t port, Millis timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return TestSocket();
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int result = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  if (result != 0 && errno == EINPROGRESS) {
    pollfd entry{.fd = fd, .events = POLLOUT, .revents = 0};
    int error = ETIMEDOUT;
    if (::poll(&entry, 1, static_cast<int>(timeout.count())) == 1) {
      socklen_t size = sizeof error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
    }
    result = error == 0 ? 0 : -1;
  }
  if (result != 0) {
    ::close(fd);
    return TestSocket();
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return TestSocket(fd);
}

bool TestSocket::Send(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes = bytes.subspan(static_cast<size_t>(sent));
  }
  return true;
}

ReadStatus TestSocket::ReadExactly(std::span<std::byte> out, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!out.empty()) {
    if (!WaitReadable(fd_, deadline)) return ReadStatus::kTimedOut;
    ssize_t got = ::recv(fd_, out.data(), out.size(), 0);
    if (got == 0) return ReadStatus::kEof;
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return errno == ECONNRESET ? ReadStatus::kReset : ReadStatus::kError;
    }
    out = out.subspan(static_cast<size_t>(got));
  }
  return ReadStatus::kOk;
}

ReceivedMessage TestSocket::ReadMessage(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  ReceivedMessage received;
  std::byte header[5];
  received.status = ReadExactly(header, timeout);
  if (!received.ok()) return received;
  uint32_t length = (static_cast<uint32_t>(header[1]) << 24) |
                    (static_cast<uint32_t>(header[2]) << 16) |
                    (static_cast<uint32_t>(header[3]) << 8) | static_cast<uint32_t>(header[4]);
  if (length < 4 || length > kMaxTestMessageLength) {
    received.status = ReadStatus::kError;
    return received;
  }
  received.message.tag = static_cast<char>(header[0]);
  received.message.body.resize(length - 4);
  received.status = ReadExactly(received.message.body,
                                std::max(Millis(0), std::chrono::duration_cast<Millis>(
                                                        deadline - Clock::now())));
  return received;
}

ReadStatus TestSocket::ReadUntilClosed(Bytes& out, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  std::byte chunk[64 * 1024];
  while (true) {
    if (!WaitReadable(fd_, deadline)) return ReadStatus::kTimedOut;
    ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got == 0) return ReadStatus::kEof;
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return errno == ECONNRESET ? ReadStatus::kReset : ReadStatus::kError;
    }
    out.insert(out.end(), chunk, chunk + got);
  }
}

void TestSocket::ShutdownSend() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void TestSocket::ShutdownBoth() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

void TestSocket::Abort() {
  if (fd_ < 0) return;
  linger abort{.l_onoff = 1, .l_linger = 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  Close();
}

void TestSocket::Close() {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

}  // namespace pgvalve::proxy::testutil
