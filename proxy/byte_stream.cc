#include "proxy/byte_stream.h"

#include <sys/socket.h>

#include <boost/asio/read.hpp>
#include <cerrno>

#include "fmt/format.h"

namespace pgvalve::proxy {

ByteStream::ByteStream(tcp::socket socket) : socket_(std::move(socket)) {
  // Messages are small and latency-bound; Nagle would hold each reply back.
  error_code ignored;
  std::get<tcp::socket>(socket_).set_option(tcp::no_delay(true), ignored);
}

ByteStream::ByteStream(unix_socket::socket socket) : socket_(std::move(socket)) {}

Awaitable<std::tuple<error_code>> ByteStream::WaitReadable() {
  return std::visit(
      [](auto& socket) { return socket.async_wait(asio::socket_base::wait_read, kUseTuple); },
      socket_);
}

std::tuple<error_code, size_t> ByteStream::TryReadSome(std::span<std::byte> buffer) {
  return TryReceive(buffer, 0);
}

std::tuple<error_code, size_t> ByteStream::TryPeekSome(std::span<std::byte> buffer) {
  return TryReceive(buffer, MSG_PEEK);
}

std::tuple<error_code, size_t> ByteStream::TryReceive(std::span<std::byte> buffer, int flags) {
  // As Asio's reads: no room is no read, not an end of stream.
  if (buffer.empty()) return {error_code(), 0};
  const int fd = NativeHandle();
  while (true) {
    // MSG_DONTWAIT rather than a non-blocking socket, so that nothing else
    // using the socket changes behaviour.
    const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), flags | MSG_DONTWAIT);
    if (got > 0) return {error_code(), static_cast<size_t>(got)};
    if (got == 0) return {asio::error::eof, 0};
    if (errno == EINTR) continue;
    return {error_code(errno, boost::system::system_category()), 0};
  }
}

Awaitable<std::tuple<error_code, size_t>> ByteStream::ReadSome(std::span<std::byte> buffer) {
  return std::visit(
      [&](auto& socket) {
        return socket.async_read_some(asio::buffer(buffer.data(), buffer.size()), kUseTuple);
      },
      socket_);
}

Awaitable<std::tuple<error_code, size_t>> ByteStream::ReadExactly(std::span<std::byte> buffer) {
  return std::visit(
      [&](auto& socket) {
        return asio::async_read(socket, asio::buffer(buffer.data(), buffer.size()), kUseTuple);
      },
      socket_);
}

Awaitable<std::tuple<error_code, size_t>> ByteStream::WriteAll(std::span<const std::byte> bytes) {
  // Nearly every write fits in the socket's send buffer: sent here, it
  // costs one system call and no trip through the event loop, which the
  // asynchronous write below would take even when it completes at once.
  auto [error, sent] = TrySend(bytes);
  if (error || sent == bytes.size()) co_return std::tuple<error_code, size_t>{error, sent};
  auto rest = bytes.subspan(sent);
  auto [rest_error, rest_sent] = co_await std::visit(
      [&](auto& socket) {
        return asio::async_write(socket, asio::buffer(rest.data(), rest.size()), kUseTuple);
      },
      socket_);
  co_return std::tuple<error_code, size_t>{rest_error, sent + rest_sent};
}

std::tuple<error_code, size_t> ByteStream::TrySend(std::span<const std::byte> bytes) {
  if (bytes.empty()) return {error_code(), 0};
  const int fd = NativeHandle();
  while (true) {
    // MSG_NOSIGNAL: a closed peer is an error to report, not a SIGPIPE.
    const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent >= 0) return {error_code(), static_cast<size_t>(sent)};
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return {error_code(), 0};
    return {error_code(errno, boost::system::system_category()), 0};
  }
}

int ByteStream::NativeHandle() {
  return std::visit([](auto& socket) { return socket.native_handle(); }, socket_);
}

void ByteStream::ShutdownSend() {
  std::visit(
      [](auto& socket) {
        error_code ignored;
        socket.shutdown(asio::socket_base::shutdown_send, ignored);
      },
      socket_);
}

void ByteStream::Close() {
  std::visit(
      [](auto& socket) {
        error_code ignored;
        socket.close(ignored);
      },
      socket_);
}

void ByteStream::Cancel() {
  std::visit(
      [](auto& socket) {
        error_code ignored;
        socket.cancel(ignored);
      },
      socket_);
}

bool ByteStream::is_open() const {
  return std::visit([](const auto& socket) { return socket.is_open(); }, socket_);
}

asio::any_io_executor ByteStream::executor() {
  return std::visit([](auto& socket) -> asio::any_io_executor { return socket.get_executor(); },
                    socket_);
}

std::string ByteStream::PeerDescription() const {
  error_code error;
  if (const auto* socket = std::get_if<tcp::socket>(&socket_)) {
    tcp::endpoint peer = socket->remote_endpoint(error);
    if (error) return "unknown";
    if (peer.address().is_v6()) return fmt::format("[{}]:{}", peer.address().to_string(), peer.port());
    return fmt::format("{}:{}", peer.address().to_string(), peer.port());
  }
  const auto& socket = std::get<unix_socket::socket>(socket_);
  unix_socket::endpoint local = socket.local_endpoint(error);
  return error ? "unix" : fmt::format("unix:{}", local.path());
}

}  // namespace pgvalve::proxy
