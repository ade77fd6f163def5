#include "proxy/byte_stream.h"

#include <sys/socket.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/read.hpp>
#include <cerrno>
#include <stdexcept>

#include "fmt/format.h"
#include "proxy/reactor_receive.h"
#include "tls/tls_connection.h"

namespace pgvalve::proxy {

ByteStream::ByteStream(TcpStream socket) : socket_(std::move(socket)) {
  // Messages are small and latency-bound; Nagle would hold each reply back.
  error_code ignored;
  std::get<TcpStream>(socket_).set_option(tcp::no_delay(true), ignored);
}

ByteStream::ByteStream(UnixStream socket) : socket_(std::move(socket)) {}

ByteStream::ByteStream(ByteStream&&) noexcept = default;
ByteStream& ByteStream::operator=(ByteStream&&) noexcept = default;
ByteStream::~ByteStream() = default;

namespace {

const error_code kWouldBlock(EAGAIN, boost::system::system_category());

bool WouldBlock(const error_code& error) { return error == kWouldBlock; }

// A TLS outcome in the terms of a plain socket's, so that callers cannot
// tell the two apart.
std::tuple<error_code, size_t> AsSocketResult(const tls::IoResult& result) {
  using Outcome = tls::IoResult::Outcome;
  switch (result.outcome) {
    case Outcome::kDone: return {error_code(), result.bytes};
    case Outcome::kWouldBlock: return {kWouldBlock, 0};
    case Outcome::kEndOfStream: return {asio::error::eof, 0};
    case Outcome::kFailed:
      // A TLS failure (a bad record, a MAC that does not match) has no
      // errno; EPROTO says as much.
      return {error_code(result.os_error != 0 ? result.os_error : EPROTO, boost::system::system_category()), 0};
  }
  return {error_code(EPROTO, boost::system::system_category()), 0};
}

SocketWait AsSocketWait(tls::Wait wait) {
  return wait == tls::Wait::kWritable ? SocketWait::kWritable : SocketWait::kReadable;
}

}  // namespace

void ByteStream::AdoptTls(std::unique_ptr<tls::TlsConnection> tls) {
  PrepareForTls();
  tls_ = std::move(tls);
}

int ByteStream::PrepareForTls() {
  std::visit(
      [](auto& socket) {
        error_code ignored;
        socket.non_blocking(true, ignored);
      },
      socket_);
  return NativeHandle();
}

Awaitable<std::tuple<error_code>> ByteStream::WaitSocket(SocketWait wait) {
  const auto kind = wait == SocketWait::kReadable ? asio::socket_base::wait_read : asio::socket_base::wait_write;
  return std::visit([kind](auto& socket) { return socket.async_wait(kind, kUseTuple); }, socket_);
}

Awaitable<std::tuple<error_code>> ByteStream::WaitReadable() {
  if (tls_) return WaitReadableTls();
  return WaitSocket(SocketWait::kReadable);
}

Awaitable<std::tuple<error_code>> ByteStream::WaitReadableTls() {
  if (tls_->ReadableNow()) co_return std::tuple<error_code>{};
  co_return co_await WaitSocket(AsSocketWait(tls_->read_wait()));
}

struct ByteStream::TlsReceive {
  RelayBuffer* buffer = nullptr;
  ReceiveCallback done;
  // Cancels the wait for writability; created with the first.
  std::unique_ptr<asio::cancellation_signal> writable_wait_cancel;
};

void ByteStream::StartReceive(RelayBuffer& buffer, ReceiveStart start, ReceiveCallback done) {
  if (tls_) return StartReceiveTls(buffer, start, done);
  std::visit([&](auto& socket) { receive_.Start(socket, buffer, start, done); }, socket_);
}

void ByteStream::CancelReceive() {
  receive_.Cancel();
  if (tls_receive_ && tls_receive_->writable_wait_cancel) {
    tls_receive_->writable_wait_cancel->emit(asio::cancellation_type::terminal);
  }
}

void ByteStream::StartReceiveTls(RelayBuffer& buffer, ReceiveStart start, ReceiveCallback done) {
  if (!tls_receive_) tls_receive_ = std::make_unique<TlsReceive>();
  tls_receive_->buffer = &buffer;
  tls_receive_->done = done;
  // Bytes OpenSSL read ahead raise no edge of their own: read them now.
  if (tls_->HasBufferedBytes()) start = ReceiveStart::kReadFirst;
  std::visit(
      [&](auto& socket) {
        receive_.Start(socket, buffer, start, {&ByteStream::OnTlsReceived, this},
                        {&ByteStream::ReadTlsForReceive, this});
      },
      socket_);
}

SourceRead ByteStream::ReadTlsForReceive(void* stream, std::span<std::byte> space) {
  tls::TlsConnection& tls = *static_cast<ByteStream*>(stream)->tls_;
  const tls::IoResult result = tls.Read(space);
  switch (result.outcome) {
    case tls::IoResult::Outcome::kDone:
      // Drained only when OpenSSL holds nothing more and its last read
      // from the socket took all there was.
      return SourceRead{tls.HasBufferedBytes() || !tls.socket_drained() ? SourceRead::Found::kBytesAndMore
                                                                          : SourceRead::Found::kBytes,
                        result.bytes};
    case tls::IoResult::Outcome::kWouldBlock:
      if (result.wait == tls::Wait::kReadable) return SourceRead{SourceRead::Found::kNothing};
      return SourceRead{SourceRead::Found::kError, 0, kWouldBlock};
    default:
      return SourceRead{SourceRead::Found::kError, 0, std::get<0>(AsSocketResult(result))};
  }
}

void ByteStream::OnTlsReceived(void* stream, error_code error, size_t bytes) {
  auto* self = static_cast<ByteStream*>(stream);
  if (MustWait(error)) {
    // OpenSSL must send before it reads on and the socket is full: an alert
    // (a TLS 1.2 peer asking to renegotiate is refused with one). A key
    // update's answer is not such a case: OpenSSL sends it with its next
    // write.
    TlsReceive& receive = *self->tls_receive_;
    if (!receive.writable_wait_cancel) receive.writable_wait_cancel = std::make_unique<asio::cancellation_signal>();
    asio::co_spawn(self->executor(), self->ReceiveTlsAfterWritable(),
                   asio::bind_cancellation_slot(receive.writable_wait_cancel->slot(), asio::detached));
    return;
  }
  self->tls_receive_->done.run(self->tls_receive_->done.target, error, bytes);
}

Awaitable<void> ByteStream::ReceiveTlsAfterWritable() {
  auto [error] = co_await WaitSocket(SocketWait::kWritable);
  TlsReceive& receive = *tls_receive_;
  if (error) {
    receive.done.run(receive.done.target, error, 0);
    co_return;
  }
  StartReceiveTls(*receive.buffer, ReceiveStart::kReadFirst, receive.done);
}

std::tuple<error_code, size_t> ByteStream::TryReadSome(std::span<std::byte> buffer) {
  if (tls_) return AsSocketResult(tls_->Read(buffer));
  return TryReceive(buffer, 0);
}

std::tuple<error_code, size_t> ByteStream::TryPeekSome(std::span<std::byte> buffer) {
  if (tls_) return AsSocketResult(tls_->Peek(buffer));
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
  if (tls_) return ReadSomeTls(buffer);
  return std::visit(
      [&](auto& socket) {
        return socket.async_read_some(asio::buffer(buffer.data(), buffer.size()), kUseTuple);
      },
      socket_);
}

Awaitable<std::tuple<error_code, size_t>> ByteStream::ReadSomeTls(std::span<std::byte> buffer) {
  while (true) {
    auto [error, read] = TryReadSome(buffer);
    if (!WouldBlock(error)) co_return std::tuple<error_code, size_t>{error, read};
    auto [wait_error] = co_await WaitReadableTls();
    if (wait_error) co_return std::tuple<error_code, size_t>{wait_error, 0};
  }
}

Awaitable<std::tuple<error_code, size_t>> ByteStream::ReadExactly(std::span<std::byte> buffer) {
  if (tls_) {
    // A coroutine of its own only for TLS: the plain path stays Asio's.
    return [](ByteStream& self, std::span<std::byte> buffer) -> Awaitable<std::tuple<error_code, size_t>> {
      size_t filled = 0;
      while (filled < buffer.size()) {
        auto [error, read] = co_await self.ReadSomeTls(buffer.subspan(filled));
        filled += read;
        if (error) co_return std::tuple<error_code, size_t>{error, filled};
      }
      co_return std::tuple<error_code, size_t>{error_code(), filled};
    }(*this, buffer);
  }
  return ReadExactlyPlain(buffer);
}

Awaitable<std::tuple<error_code, size_t>> ByteStream::ReadExactlyPlain(std::span<std::byte> buffer) {
  // What a session start reads (the rest of a startup packet, an
  // authentication message's body) is usually there already: read here,
  // it costs one system call and no trip through the event loop, which
  // Asio's read takes even when it completes at once.
  auto [error, filled] = TryReadSome(buffer);
  if (filled == buffer.size() || (error && !MustWait(error))) {
    co_return std::tuple<error_code, size_t>{error, filled};
  }
  const std::span<std::byte> rest = buffer.subspan(filled);
  auto [rest_error, rest_read] = co_await std::visit(
      [&](auto& socket) { return asio::async_read(socket, asio::buffer(rest.data(), rest.size()), kUseTuple); },
      socket_);
  co_return std::tuple<error_code, size_t>{rest_error, filled + rest_read};
}

Awaitable<std::tuple<error_code, size_t>> ByteStream::WriteAll(std::span<const std::byte> bytes) {
  // Nearly every write fits in the socket's send buffer: sent here, it
  // costs one system call and no trip through the event loop, which the
  // asynchronous write below would take even when it completes at once.
  auto [error, sent] = TrySend(bytes);
  if (error || sent == bytes.size()) co_return std::tuple<error_code, size_t>{error, sent};
  auto rest = bytes.subspan(sent);
  if (tls_) co_return co_await WriteAllTls(rest, sent);
  auto [rest_error, rest_sent] = co_await std::visit(
      [&](auto& socket) {
        return asio::async_write(socket, asio::buffer(rest.data(), rest.size()), kUseTuple);
      },
      socket_);
  co_return std::tuple<error_code, size_t>{rest_error, sent + rest_sent};
}

Awaitable<std::tuple<error_code, size_t>> ByteStream::WriteAllTls(std::span<const std::byte> bytes,
                                                                  size_t sent) {
  size_t done = 0;
  while (done < bytes.size()) {
    auto [wait_error] = co_await WaitSocket(AsSocketWait(tls_->write_wait()));
    if (wait_error) co_return std::tuple<error_code, size_t>{wait_error, sent + done};
    auto [error, written] = TrySend(bytes.subspan(done));
    done += written;
    if (error) co_return std::tuple<error_code, size_t>{error, sent + done};
  }
  co_return std::tuple<error_code, size_t>{error_code(), sent + done};
}

std::tuple<error_code, size_t> ByteStream::TrySend(std::span<const std::byte> bytes) {
  if (bytes.empty()) return {error_code(), 0};
  if (tls_) {
    // A write returns after each record (SSL_MODE_ENABLE_PARTIAL_WRITE);
    // go on while the socket takes them.
    size_t sent = 0;
    while (sent < bytes.size()) {
      const tls::IoResult result = tls_->Write(bytes.subspan(sent));
      if (result.outcome == tls::IoResult::Outcome::kWouldBlock) break;
      if (result.outcome == tls::IoResult::Outcome::kEndOfStream) {
        return {asio::error::broken_pipe, sent};
      }
      auto [error, written] = AsSocketResult(result);
      if (error) return {error, sent};
      sent += written;
    }
    return {error_code(), sent};
  }
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
  if (tls_) tls_->SendCloseNotify();
  std::visit(
      [](auto& socket) {
        error_code ignored;
        socket.shutdown(asio::socket_base::shutdown_send, ignored);
      },
      socket_);
}

std::variant<TcpStream, UnixStream> ByteStream::TakeSocket() && {
  if (tls_ != nullptr) throw std::logic_error("TakeSocket on a TLS stream");
  receive_.Cancel();
  std::variant<TcpStream, UnixStream> taken = std::move(socket_);
  // A moved-from socket is closed; the variant still holds one.
  return taken;
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

IoContextExecutor ByteStream::executor() {
  return std::visit([](auto& socket) { return socket.get_executor(); }, socket_);
}

std::string ByteStream::PeerDescription() const {
  error_code error;
  if (const auto* socket = std::get_if<TcpStream>(&socket_)) {
    tcp::endpoint peer = socket->remote_endpoint(error);
    if (error) return "unknown";
    if (peer.address().is_v6()) return fmt::format("[{}]:{}", peer.address().to_string(), peer.port());
    return fmt::format("{}:{}", peer.address().to_string(), peer.port());
  }
  const auto& socket = std::get<UnixStream>(socket_);
  unix_socket::endpoint local = socket.local_endpoint(error);
  return error ? "unix" : fmt::format("unix:{}", local.path());
}

}  // namespace pgvalve::proxy
