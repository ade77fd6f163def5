#pragma once
// A receive that Asio's reactor performs when a socket turns readable, into
// a RelayBuffer that takes storage from the worker's pool only at that
// moment. It is how a relay pump waits for its peer.
//
// Why not `async_wait(wait_read)` and then a recv: Asio registers each
// socket with epoll once, edge-triggered, and re-arms it with an epoll_ctl
// on every wait (a wait cannot know whether readiness was already reported),
// so each request and each reply cost an epoll_ctl. A receive needs none:
// the reactor tries it at once only while the last receive may have left
// bytes behind (it filled its buffer), and otherwise queues it until the
// next edge. One recv per readiness, no epoll_ctl, never a recv known to
// find nothing. Asio's own async_receive would hold its buffer for as long
// as it waits, i.e. for as long as the session is idle; this one names the
// RelayBuffer to fill and takes storage only when bytes are there. It
// reports through a function pointer and an object rather than a handler,
// so a waiting pump holds no handler allocation either.
//
// The one thing an edge cannot tell: a peer that sent its last bytes and
// closed at once. recv takes the bytes and the FIN in one call and returns
// the bytes; the EOF it leaves behind raises no further edge. So the relay
// asks for kReadFirst, one more recv that would find that EOF, whenever
// nothing else would reveal the close: after PostgreSQL's ErrorResponse or
// NoticeResponse (what it sends before it ends a session), and after a
// client's bytes unless they completed a request the server is now
// answering (writing that answer to a closed client draws a reset, which
// is an edge).
//
// Over TLS the reactor calls a ReceiveSource instead of recv: OpenSSL
// reads the socket and decrypts, and says whether it or the socket may
// still hold bytes, which plays the part of "filled its buffer".
//
// It is built on the reactor interface Asio's own socket operations use
// (boost::asio::detail), written against Boost 1.81's.

#include <sys/socket.h>

#include <utility>

// io_context first: detail/reactor.hpp cannot be the first Asio header.
#include <boost/asio/io_context.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/version.hpp>

#include "proxy/asio.h"
#include "proxy/relay_buffer.h"

static_assert(BOOST_VERSION / 100 == 1081, "ReactorReceive uses Boost 1.81's reactor interface; check it again");

namespace pgvalve::proxy {

enum class ReceiveStart {
  // Read at once only if the last receive filled its buffer; otherwise
  // wait for the next edge.
  kTrustEdge,
  // Read at once: the peer may have closed right after its last bytes.
  kReadFirst,
};

// How a receive reports: a function and the object it runs on, so that a
// waiting session holds no handler object, only these two words.
struct ReceiveCallback {
  void (*run)(void* target, error_code error, size_t bytes) = nullptr;
  void* target = nullptr;
};

// What a receive found through a ReceiveSource.
struct SourceRead {
  enum class Found {
    // `bytes` bytes; the source and the socket under it are drained.
    kBytes,
    // `bytes` bytes, and more may be there without a new edge.
    kBytesAndMore,
    // Nothing yet: wait for the socket's next edge.
    kNothing,
    // `error`: eof, a failure, or would_block when the source must write
    // before it can read on (the caller waits for writability itself).
    kError,
  };
  Found found = Found::kNothing;
  size_t bytes = 0;
  error_code error;
};

// Reads without waiting for a receive whose socket's bytes are not the
// relay's, i.e. TLS. Runs inside the reactor, on the socket's thread.
struct ReceiveSource {
  SourceRead (*read)(void* target, std::span<std::byte> space) = nullptr;
  void* target = nullptr;
};

class ReactorReceive {
 public:
  // Holds nothing until the first Start.
  ReactorReceive() = default;
  // A receive still pending is abandoned: its callback never runs.
  ~ReactorReceive() { Abandon(); }
  // Moved with a receive pending, the receive goes along: it is the
  // socket's, named by its registration, not this object's address.
  ReactorReceive(ReactorReceive&& other) noexcept : operation_(std::exchange(other.operation_, nullptr)) {}
  ReactorReceive& operator=(ReactorReceive&& other) noexcept;
  ReactorReceive(const ReactorReceive&) = delete;
  ReactorReceive& operator=(const ReactorReceive&) = delete;

  // Calls `done` on the socket's executor with the number of bytes received
  // into `buffer`'s free space (not yet committed: the caller commits them),
  // or eof, or an error; never from inside Start. The buffer must have free
  // space and stay alive until then; the socket must stay open and in place
  // (a close completes the receive with operation_aborted, as Cancel does).
  // One receive at a time. If the io_context is destroyed first, `done` is
  // not called. With a `source`, the bytes are read through it rather than
  // from the socket.
  template <typename Socket>
  void Start(Socket& socket, RelayBuffer& buffer, ReceiveStart start, ReceiveCallback done,
             ReceiveSource source = {}) {
    auto& implementation = Internals<Socket>::Implementation(socket);
    Start(asio::use_service<asio::detail::reactor>(asio::query(socket.get_executor(), asio::execution::context)),
          implementation.socket_, &implementation.reactor_data_, buffer, start, done, source);
  }

  // A pending receive completes with operation_aborted; otherwise nothing.
  void Cancel();

 private:
  class Operation;

  // Reaches the socket's descriptor and its reactor registration, which
  // basic_socket keeps protected for the services that run its operations.
  template <typename Socket>
  struct Internals : Socket {
    static auto& Implementation(Socket& socket) { return (socket.*(&Internals::impl_)).get_implementation(); }
  };

  void Abandon();
  void Start(asio::detail::reactor& reactor, int descriptor,
             asio::detail::reactor::per_descriptor_data* registration, RelayBuffer& buffer,
             ReceiveStart start, ReceiveCallback done, ReceiveSource source);

  // Owned here while idle; a pending operation left behind by this object's
  // destruction deletes itself when the reactor completes it. Made at the
  // first Start.
  Operation* operation_ = nullptr;
};

}  // namespace pgvalve::proxy
