#pragma once
// OpenSSL's I/O over a connected, non-blocking socket that also tells how
// much the socket had: a read that took less than OpenSSL asked for (or
// nothing) drained it. The relay's receive needs that to know whether the
// socket's next readiness edge is still to come (reactor_receive.h); a
// callback on OpenSSL's own socket BIO could say it too, but runs on every
// control call as well, a few dozen a transaction.

#include <openssl/bio.h>

namespace pgvalve::tls {

// What the BIO reads and writes, and what it learnt; owned by the caller,
// which outlives the BIO.
struct SocketBioState {
  int fd = -1;
  // The last read found less than it asked for, nothing, or the end.
  bool drained = false;
  bool at_end = false;
};

// A new BIO over state->fd, which it does not close; null if OpenSSL could
// not make one.
BIO* NewSocketBio(SocketBioState* state);

}  // namespace pgvalve::tls
