#pragma once
// How a relay pump reads: it waits for the stream to become readable with
// its buffer back in the worker's pool, and takes a buffer only to read
// bytes that are already there. So a session that waits for its peer holds
// no buffer, however long it waits. The pump's loop:
//
//   auto [error, read] = StartRead(stream, buffer);
//   while (MustWait(error)) {
//     std::tie(error) = co_await stream.WaitReadable();
//     if (!error) std::tie(error, read) = ReadAvailable(stream, buffer);
//   }
//
// (kept inline in the pumps: a coroutine of its own would cost a frame and a
// resumption per read.)

#include <cerrno>
#include <tuple>

#include "proxy/asio.h"
#include "proxy/byte_stream.h"
#include "proxy/relay_buffer.h"

namespace pgvalve::proxy {

// True for would_block (EAGAIN, which is EWOULDBLOCK on Linux). Spelled out
// because error_code's operator== against an enum is an out-of-line call,
// and this runs on every read.
inline bool MustWait(const error_code& error) {
  return error.value() == EAGAIN && error.category() == boost::system::system_category();
}

// Reads what `stream` already has into `buffer`; would_block when it has
// nothing, and then an empty buffer has gone back to the pool.
std::tuple<error_code, size_t> ReadAvailable(ByteStream& stream, RelayBuffer& buffer);

// After a read that filled the buffer the peer very likely has more, so
// this reads at once; otherwise it reports would_block without a system
// call, the pump's cue to wait first.
std::tuple<error_code, size_t> StartRead(ByteStream& stream, RelayBuffer& buffer);

}  // namespace pgvalve::proxy
