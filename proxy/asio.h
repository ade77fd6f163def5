#pragma once
// The Asio vocabulary shared by the proxy: one place for the includes and the
// completion tokens, so every file spells them the same way.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
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

// Expected failures (EOF, a reset, a cancelled read) come back as values and
// end a session quietly; only the unexpected is thrown.
inline constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

template <typename T = void>
using Awaitable = asio::awaitable<T>;

}  // namespace pgvalve::proxy
