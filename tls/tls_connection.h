#pragma once
// One TLS connection over a connected, non-blocking socket: OpenSSL reads
// and writes the descriptor itself, and every call returns at once. Waiting
// is the caller's (ByteStream, on its event loop): a call that cannot go on
// says which readiness it waits for, which in TLS need not be the direction
// of the call (a read may have to write, a write to read).
//
// The relay's two pumps use one connection from one thread, a read and a
// write interleaved; OpenSSL allows that as long as the calls are not
// concurrent, and a write that could not finish is retried with the same
// bytes (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets them move).
//
// OpenSSL's per-thread error queue must be empty when a read or a write
// starts, or a call that only has to wait is taken for a failure. Emptying
// it before every call costs more than a relayed query's own bookkeeping
// (a lookup of the thread's state and sixteen slots cleared), so this class
// keeps it empty instead: every call that fails takes the errors it left,
// and a handshake, the one call that may leave some behind even when it
// succeeds, empties it before and after. Code that uses OpenSSL on a
// worker thread must leave the queue as empty as it found it.

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "tls/socket_bio.h"

namespace pgvalve::tls {

enum class Wait { kNone, kReadable, kWritable };

struct IoResult {
  enum class Outcome { kDone, kWouldBlock, kEndOfStream, kFailed };
  Outcome outcome = Outcome::kDone;
  size_t bytes = 0;
  Wait wait = Wait::kNone;  // for kWouldBlock
  int os_error = 0;         // for kFailed when the socket failed; 0 when TLS did
};

class TlsConnection {
 public:
  enum class Role { kServer, kClient };

  static absl::StatusOr<std::unique_ptr<TlsConnection>> Create(SSL_CTX* context, int fd, Role role);
  ~TlsConnection();
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  // The server name to send (SNI); a client connection to a host name.
  absl::Status SetServerName(const std::string& host);

  // One step of the handshake: Wait::kNone once it is complete; an error
  // with OpenSSL's reason (and the certificate check's, if that failed).
  absl::StatusOr<Wait> Handshake();

  IoResult Read(std::span<std::byte> buffer);
  // As Read, leaving the bytes to a later Read.
  IoResult Peek(std::span<std::byte> buffer);
  IoResult Write(std::span<const std::byte> bytes);
  // Decrypted bytes wait in the connection: a read would return them now.
  bool HasDecryptedBytes() const { return SSL_pending(ssl_) > 0; }
  // OpenSSL holds bytes read from the socket, decrypted or not yet (it
  // reads ahead): a read may return them without the socket turning
  // readable again, or may need more of a record that arrived in part.
  bool HasBufferedBytes() const { return SSL_has_pending(ssl_) == 1; }
  // A read would return bytes (or the end, or a failure) now: decrypted
  // bytes wait, or a whole record does. Decrypts one record to find out;
  // when false, read_wait() says what to wait for.
  bool ReadableNow();
  // The last read from the socket took less than OpenSSL asked for, or
  // found nothing: what the socket had then is all in OpenSSL now, and only
  // a new readiness edge brings more. False while a read filled all the
  // space OpenSSL offered (the socket may have more) and before any read.
  bool socket_drained() const { return socket_.drained; }
  // What the last read that would block waits for.
  Wait read_wait() const { return read_wait_; }
  Wait write_wait() const { return write_wait_; }
  // Sends close_notify if the socket takes it now; never waits.
  void SendCloseNotify();
  // TLS 1.3: new keys for what this end sends from now on, and a request
  // that the peer update its own (OpenSSL answers with its next write, not
  // from the read that found the request). Sent with the next write. False
  // on TLS 1.2 or a failure.
  bool RequestKeyUpdate();

  // "TLSv1.3 TLS_AES_256_GCM_SHA384", for SHOW CLIENTS and logs.
  std::string Description() const;
  // The peer presented a certificate and it was verified.
  bool PeerCertificateVerified() const;
  // The protocol both sides chose by ALPN; empty when the client sent none.
  std::string AlpnProtocol() const;
  // True when this connection, pgvalve's side of a client's, presents the
  // certificate `server_leg`'s server showed: SCRAM's channel binding
  // (tls-server-end-point, a hash of that certificate) then holds across
  // pgvalve.
  bool PresentsCertificateOf(const TlsConnection& server_leg) const;
  // The reason of the last kFailed outcome (OpenSSL's), for logs.
  const std::string& last_error() const { return last_error_; }

 private:
  explicit TlsConnection(SSL* ssl) : ssl_(ssl) {}
  // `wait` is the direction's record of what it waits for, back to `usual`
  // once a call went through.
  IoResult Outcome(int call_result, size_t bytes, Wait& wait, Wait usual);

  SSL* ssl_;
  Wait read_wait_ = Wait::kReadable;
  Wait write_wait_ = Wait::kWritable;
  SocketBioState socket_;
  std::string last_error_;
};

}  // namespace pgvalve::tls
