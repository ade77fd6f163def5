#include "tls/tls_connection.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "tls/openssl_error.h"

namespace pgvalve::tls {

absl::StatusOr<std::unique_ptr<TlsConnection>> TlsConnection::Create(SSL_CTX* context, int fd, Role role) {
  ERR_clear_error();
  SSL* ssl = SSL_new(context);
  if (ssl == nullptr)
    return absl::InternalError(absl::StrCat("cannot create a TLS connection: ", TakeOpenSslErrors()));
  std::unique_ptr<TlsConnection> connection(new TlsConnection(ssl));
  connection->socket_.fd = fd;
  BIO* socket = NewSocketBio(&connection->socket_);
  if (socket == nullptr) {
    return absl::InternalError(absl::StrCat("cannot attach TLS to the socket: ", TakeOpenSslErrors()));
  }
  // One BIO for both directions: the connection owns it.
  SSL_set_bio(ssl, socket, socket);
  if (role == Role::kServer) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
  }
  return connection;
}

TlsConnection::~TlsConnection() { SSL_free(ssl_); }

bool TlsConnection::ReadableNow() {
  if (HasDecryptedBytes()) return true;
  if (!HasBufferedBytes()) return false;
  std::byte first;
  // A peek that would block, whichever way, leaves read_wait() saying
  // which readiness to wait for.
  const IoResult peeked = Peek(std::span(&first, 1));
  return peeked.outcome != IoResult::Outcome::kWouldBlock;
}

absl::Status TlsConnection::SetServerName(const std::string& host) {
  if (SSL_set_tlsext_host_name(ssl_, host.c_str()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot send server name \"", host, "\": ", TakeOpenSslErrors()));
  }
  return absl::OkStatus();
}

absl::StatusOr<Wait> TlsConnection::Handshake() {
  ERR_clear_error();
  errno = 0;
  const int result = SSL_do_handshake(ssl_);
  if (result == 1) {
    // A verification callback may have queued errors on the way to success.
    ERR_clear_error();
    return Wait::kNone;
  }
  const int error = SSL_get_error(ssl_, result);
  if (error == SSL_ERROR_WANT_READ) return Wait::kReadable;
  if (error == SSL_ERROR_WANT_WRITE) return Wait::kWritable;
  if (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
    return absl::UnavailableError(errno == 0
                                      ? std::string("the peer closed the connection during the TLS handshake")
                                      : absl::StrCat("TLS handshake: ", std::strerror(errno)));
  }
  std::string reason = TakeOpenSslErrors();
  if (const long verified = SSL_get_verify_result(ssl_); verified != X509_V_OK) {
    reason = absl::StrCat(reason, ": ", X509_verify_cert_error_string(verified));
  }
  return absl::UnavailableError(absl::StrCat("TLS handshake failed: ", reason));
}

IoResult TlsConnection::Outcome(int call_result, size_t bytes, Wait& wait, Wait usual) {
  if (call_result == 1) {
    wait = usual;
    return IoResult{IoResult::Outcome::kDone, bytes};
  }
  const int error = SSL_get_error(ssl_, call_result);
  switch (error) {
    case SSL_ERROR_WANT_READ:
      wait = Wait::kReadable;
      return IoResult{IoResult::Outcome::kWouldBlock, 0, wait};
    case SSL_ERROR_WANT_WRITE:
      wait = Wait::kWritable;
      return IoResult{IoResult::Outcome::kWouldBlock, 0, wait};
    case SSL_ERROR_ZERO_RETURN:
      // close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) a plain close.
      return IoResult{IoResult::Outcome::kEndOfStream};
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        last_error_ = std::strerror(errno);
        return IoResult{IoResult::Outcome::kFailed, 0, Wait::kNone, errno == 0 ? ECONNRESET : errno};
      }
      [[fallthrough]];
    default:
      last_error_ = TakeOpenSslErrors();
      return IoResult{IoResult::Outcome::kFailed};
  }
}

IoResult TlsConnection::Read(std::span<std::byte> buffer) {
  if (buffer.empty()) return IoResult{};
  size_t read = 0;
  const int result = SSL_read_ex(ssl_, buffer.data(), buffer.size(), &read);
  return Outcome(result, read, read_wait_, Wait::kReadable);
}

IoResult TlsConnection::Peek(std::span<std::byte> buffer) {
  if (buffer.empty()) return IoResult{};
  size_t read = 0;
  const int result = SSL_peek_ex(ssl_, buffer.data(), buffer.size(), &read);
  return Outcome(result, read, read_wait_, Wait::kReadable);
}

IoResult TlsConnection::Write(std::span<const std::byte> bytes) {
  if (bytes.empty()) return IoResult{};
  size_t written = 0;
  const int result = SSL_write_ex(ssl_, bytes.data(), bytes.size(), &written);
  return Outcome(result, written, write_wait_, Wait::kWritable);
}

void TlsConnection::SendCloseNotify() {
  ERR_clear_error();
  // 0: sent, the peer's not awaited; <0: the socket would block or failed.
  // Either way the connection is being closed, so nothing is retried.
  (void)SSL_shutdown(ssl_);
  ERR_clear_error();
}

bool TlsConnection::RequestKeyUpdate() {
  if (SSL_key_update(ssl_, SSL_KEY_UPDATE_REQUESTED) == 1) return true;
  (void)TakeOpenSslErrors();
  return false;
}

std::string TlsConnection::Description() const {
  return absl::StrCat(SSL_get_version(ssl_), " ", SSL_get_cipher_name(ssl_));
}

bool TlsConnection::PeerCertificateVerified() const {
  X509* certificate = SSL_get0_peer_certificate(ssl_);
  return certificate != nullptr && SSL_get_verify_result(ssl_) == X509_V_OK;
}

bool TlsConnection::PresentsCertificateOf(const TlsConnection& server_leg) const {
  X509* own = SSL_get_certificate(ssl_);
  X509* upstream = SSL_get0_peer_certificate(server_leg.ssl_);
  return own != nullptr && upstream != nullptr && X509_cmp(own, upstream) == 0;
}

std::string TlsConnection::AlpnProtocol() const {
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_, &protocol, &length);
  return protocol == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(protocol), length);
}

}  // namespace pgvalve::tls
