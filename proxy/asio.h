#pragma once
// The Asio vocabulary shared by the proxy: one place for the includes and the
// completion tokens, so every file spells them the same way.

#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace pgvalve::proxy {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

// The sockets under a ByteStream, bound by type to an io_context: their
// executor is then a pointer (8 bytes) instead of the type-erased
// any_io_executor (48 bytes), in each of an idle session's two sockets.
using IoContextExecutor = asio::io_context::executor_type;
using TcpStream = asio::basic_stream_socket<tcp, IoContextExecutor>;
using UnixStream = asio::basic_stream_socket<unix_socket, IoContextExecutor>;

// The io_context executor behind `executor`, which must have one (every
// pgvalve executor does: workers and the control thread are io_contexts).
inline IoContextExecutor ToIoContextExecutor(const asio::any_io_executor& executor) {
  const auto* worker = executor.target<IoContextExecutor>();
  if (worker == nullptr) throw std::logic_error("pgvalve's sockets live on an io_context");
  return *worker;
}

// Expected failures (EOF, a reset, a cancelled read) come back as values and
// end a session quietly; only the unexpected is thrown.
inline constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

template <typename T = void>
using Awaitable = asio::awaitable<T>;

}  // namespace pgvalve::proxy
