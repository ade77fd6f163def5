#pragma once
// The byte stream under a session: a TCP or unix-domain socket, with or
// without TLS over it. Relay code only ever sees this type; TLS changes
// nothing there.

#include <cerrno>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <variant>

#include <boost/asio/cancellation_signal.hpp>

#include "proxy/asio.h"
#include "proxy/reactor_receive.h"
#include "proxy/relay_buffer.h"

namespace pgvalve::tls {
class TlsConnection;
}

namespace pgvalve::proxy {

enum class SocketWait { kReadable, kWritable };


// True for would_block (EAGAIN, which is EWOULDBLOCK on Linux), what
// TryReadSome and TryPeekSome report when nothing is there. Spelled out
// because error_code's operator== against an enum is an out-of-line call.
inline bool MustWait(const error_code& error) {
  return error.value() == EAGAIN && error.category() == boost::system::system_category();
}

class ByteStream {
 public:
  explicit ByteStream(TcpStream socket);
  explicit ByteStream(UnixStream socket);

  ByteStream(ByteStream&&) noexcept;
  ByteStream& operator=(ByteStream&&) noexcept;
  ~ByteStream();

  // From now on every byte goes through `tls`, whose handshake is complete
  // (tls_handshake.h). Makes the socket non-blocking, as OpenSSL reads and
  // writes it directly.
  void AdoptTls(std::unique_ptr<tls::TlsConnection> tls);
  // Null for a plain stream.
  const tls::TlsConnection* tls() const { return tls_.get(); }
  // Makes the socket non-blocking and returns its descriptor, for a TLS
  // handshake run over it before AdoptTls.
  int PrepareForTls();
  // Waits for the socket itself, whatever TLS holds (a handshake's waits).
  Awaitable<std::tuple<error_code>> WaitSocket(SocketWait wait);

  // How the relay waits for its peer: `done` runs, on the executor and
  // never from inside this call, once bytes were read into `buffer`'s free
  // space (the caller commits them), or at EOF or an error. The buffer
  // takes storage from the pool only when bytes are there, so a waiting
  // session holds none (reactor_receive.h). `start` as in
  // reactor_receive.h. One at a time. Destroying the stream abandons a
  // pending one (`done` is not called), except one over TLS that had to
  // wait for writability first (a read that must send an alert, rare):
  // that one must have completed.
  void StartReceive(RelayBuffer& buffer, ReceiveStart start, ReceiveCallback done);
  // A pending StartReceive completes with operation_aborted (or with what
  // it had already found).
  void CancelReceive();

  // Completes once a read would not block: bytes, EOF or an error wait.
  // With TLS, at once while decrypted bytes wait in the connection.
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

  // The socket of a plain stream (no TLS, no receive pending), for a
  // protocol other than PostgreSQL's on a Listener's connection: the HTTP
  // endpoint runs Beast over it. The stream is left closed.
  std::variant<TcpStream, UnixStream> TakeSocket() &&;

  // Ends our sending side after queued data; the peer reads EOF.
  void ShutdownSend();
  void Close();
  // Aborts outstanding reads and writes on this stream.
  void Cancel();
  bool is_open() const;
  IoContextExecutor executor();

  // "127.0.0.1:5432" or "unix:/path" for logs and SHOW CLIENTS.
  std::string PeerDescription() const;

 private:
  int NativeHandle();
  std::tuple<error_code, size_t> TryReceive(std::span<std::byte> buffer, int flags);
  Awaitable<std::tuple<error_code>> WaitReadableTls();
  struct TlsReceive;
  void StartReceiveTls(RelayBuffer& buffer, ReceiveStart start, ReceiveCallback done);
  // The ReceiveSource and ReceiveCallback of a receive over TLS.
  static SourceRead ReadTlsForReceive(void* stream, std::span<std::byte> space);
  static void OnTlsReceived(void* stream, error_code error, size_t bytes);
  // A TLS read that must write first waits for writability here.
  Awaitable<void> ReceiveTlsAfterWritable();
  // The asynchronous halves of ReadSome and WriteAll over TLS.
  Awaitable<std::tuple<error_code, size_t>> ReadSomeTls(std::span<std::byte> buffer);
  Awaitable<std::tuple<error_code, size_t>> ReadExactlyPlain(std::span<std::byte> buffer);
  Awaitable<std::tuple<error_code, size_t>> WriteAllTls(std::span<const std::byte> bytes, size_t sent);

  // Declared before the socket so that it is destroyed after it: closing
  // the socket completes a pending receive.
  ReactorReceive receive_;
  // The caller's side of a receive over TLS; created with the first.
  std::unique_ptr<TlsReceive> tls_receive_;
  std::variant<TcpStream, UnixStream> socket_;
  std::unique_ptr<tls::TlsConnection> tls_;
};

}  // namespace pgvalve::proxy
