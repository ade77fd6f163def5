#pragma once
// The byte stream under a session: a TCP or unix-domain socket today, a TLS
// stream later. Relay code only ever sees this type, so adding TLS means a
// new alternative here and nothing in the relay.

#include <span>
#include <string>
#include <tuple>
#include <variant>

#include "proxy/asio.h"

namespace pgvalve::proxy {

class ByteStream {
 public:
  explicit ByteStream(tcp::socket socket);
  explicit ByteStream(unix_socket::socket socket);

  ByteStream(ByteStream&&) = default;
  ByteStream& operator=(ByteStream&&) = default;

  // Completes once a read would not block: bytes, EOF or an error wait.
  // (A TLS alternative must also complete at once while it holds decrypted
  // bytes.)
  Awaitable<std::tuple<error_code>> WaitReadable();
  // Reads what is already there without waiting: would_block when nothing
  // is, eof once the peer closed.
  std::tuple<error_code, size_t> TryReadSome(std::span<std::byte> buffer);
  // As TryReadSome, but the bytes stay in the stream for a later read: to
  // learn whether the peer closed without taking what it sent.
  std::tuple<error_code, size_t> TryPeekSome(std::span<std::byte> buffer);
  // Reads what is available, up to buffer.size() bytes.
  Awaitable<std::tuple<error_code, size_t>> ReadSome(std::span<std::byte> buffer);
  // Fills all of `buffer` or fails.
  Awaitable<std::tuple<error_code, size_t>> ReadExactly(std::span<std::byte> buffer);
  // Writes all of `bytes` or fails.
  Awaitable<std::tuple<error_code, size_t>> WriteAll(std::span<const std::byte> bytes);
  // Sends what the socket takes now without waiting (0 bytes when its
  // buffer is full).
  std::tuple<error_code, size_t> TrySend(std::span<const std::byte> bytes);

  // Ends our sending side after queued data; the peer reads EOF.
  void ShutdownSend();
  void Close();
  // Aborts outstanding reads and writes on this stream.
  void Cancel();
  bool is_open() const;
  asio::any_io_executor executor();

  // "127.0.0.1:5432" or "unix:/path" for logs and SHOW CLIENTS.
  std::string PeerDescription() const;

 private:
  int NativeHandle();
  std::tuple<error_code, size_t> TryReceive(std::span<std::byte> buffer, int flags);

  std::variant<tcp::socket, unix_socket::socket> socket_;
};

}  // namespace pgvalve::proxy
