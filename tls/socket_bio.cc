#include "tls/socket_bio.h"

#include <sys/socket.h>

#include <cerrno>

namespace pgvalve::tls {

namespace {

SocketBioState& StateOf(BIO* bio) { return *static_cast<SocketBioState*>(BIO_get_data(bio)); }

int Read(BIO* bio, char* data, size_t length, size_t* read) {
  SocketBioState& state = StateOf(bio);
  BIO_clear_retry_flags(bio);
  while (true) {
    const ssize_t got = ::recv(state.fd, data, length, 0);
    if (got > 0) {
      *read = static_cast<size_t>(got);
      state.drained = *read < length;
      return 1;
    }
    if (got < 0 && errno == EINTR) continue;
    *read = 0;
    state.drained = true;
    if (got == 0) {
      state.at_end = true;
    } else if (errno == EAGAIN) {
      BIO_set_retry_read(bio);
    }
    // errno stays as recv left it, for SSL_ERROR_SYSCALL.
    return 0;
  }
}

int Write(BIO* bio, const char* data, size_t length, size_t* written) {
  SocketBioState& state = StateOf(bio);
  BIO_clear_retry_flags(bio);
  while (true) {
    // MSG_NOSIGNAL: a closed peer is an error to report, not a SIGPIPE.
    const ssize_t sent = ::send(state.fd, data, length, MSG_NOSIGNAL);
    if (sent >= 0) {
      *written = static_cast<size_t>(sent);
      return 1;
    }
    if (errno == EINTR) continue;
    *written = 0;
    if (errno == EAGAIN) BIO_set_retry_write(bio);
    return 0;
  }
}

long Control(BIO* bio, int command, long /*number*/, void* /*pointer*/) {
  switch (command) {
    case BIO_CTRL_FLUSH:  // every write went to the socket already
    case BIO_CTRL_DUP:
      return 1;
    case BIO_CTRL_EOF:  // how OpenSSL tells a peer's close from a failure
      return StateOf(bio).at_end ? 1 : 0;
    default:
      return 0;
  }
}

BIO_METHOD* Method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pgvalve socket");
    if (made == nullptr) return made;
    BIO_meth_set_read_ex(made, Read);
    BIO_meth_set_write_ex(made, Write);
    BIO_meth_set_ctrl(made, Control);
    return made;
  }();
  return method;
}

}  // namespace

BIO* NewSocketBio(SocketBioState* state) {
  BIO_METHOD* method = Method();
  if (method == nullptr) return nullptr;
  BIO* bio = BIO_new(method);
  if (bio == nullptr) return nullptr;
  BIO_set_data(bio, state);
  BIO_set_init(bio, 1);
  return bio;
}

}  // namespace pgvalve::tls
