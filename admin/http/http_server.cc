#include "admin/http/http_server.h"

#include <array>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "spdlog/spdlog.h"

namespace pgvalve::admin {

namespace beast = boost::beast;
namespace http = beast::http;
using proxy::Awaitable;
using proxy::error_code;
using proxy::kUseTuple;

using PlainStream = beast::basic_stream<proxy::tcp, proxy::IoContextExecutor>;
using TlsStream = beast::ssl_stream<PlainStream>;

class HttpServer::Connection {
 public:
  virtual ~Connection() = default;
  virtual Awaitable<void> Serve() = 0;
  virtual void Close() = 0;
};

namespace {

// One client connection over plain TCP or over TLS; the HTTP exchange is
// the same either way.
template <typename Stream>
class StreamConnection final : public HttpServer::Connection {
 public:
  // `tls`: the context a TLS stream was made with, kept for its life.
  StreamConnection(Stream stream, std::shared_ptr<proxy::asio::ssl::context> tls, std::string client,
                   HttpRoutes& routes)
      : tls_(std::move(tls)), stream_(std::move(stream)), client_(std::move(client)), routes_(routes) {}

  Awaitable<void> Serve() override;
  void Close() override {
    error_code ignored;
    Socket().close(ignored);
  }

 private:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  PlainStream& Lowest() { return beast::get_lowest_layer(stream_); }
  proxy::TcpStream& Socket() { return Lowest().socket(); }
  Awaitable<bool> Handshake();
  Awaitable<void> ServeRequests();
  // Answers a request that could not be read (malformed, too large) and
  // ends the connection; nothing for a peer that simply left.
  Awaitable<void> RefuseUnreadable(const error_code& error);
  Awaitable<bool> Write(http::response<http::string_body>& response);
  Awaitable<void> EndConnection();

  static constexpr std::chrono::seconds kLingerTimeout{2};
  static constexpr size_t kMaxLingerBytes = 1 << 20;

  std::shared_ptr<proxy::asio::ssl::context> tls_;
  Stream stream_;
  const std::string client_;
  HttpRoutes& routes_;
  beast::flat_buffer buffer_{HttpServer::kMaxHeaderBytes};
};

HttpMethod MethodOf(http::verb verb) {
  switch (verb) {
    case http::verb::get: return HttpMethod::kGet;
    case http::verb::head: return HttpMethod::kHead;
    case http::verb::post: return HttpMethod::kPost;
    default: return HttpMethod::kOther;
  }
}

template <typename Stream>
Awaitable<void> StreamConnection<Stream>::Serve() {
  // Awaited into a variable: GCC 12 compiles `if (!co_await Handshake())`
  // here into code that dies of SIGILL.
  const bool secured = co_await Handshake();
  if (!secured) co_return;
  co_await ServeRequests();
  co_await EndConnection();
}

template <typename Stream>
Awaitable<bool> StreamConnection<Stream>::Handshake() {
  if constexpr (kTls) {
    // A client certificate is checked by the context itself (verify-ca and
    // verify-full refuse a connection without one).
    Lowest().expires_after(HttpServer::kIdleTimeout);
    auto [error] = co_await stream_.async_handshake(proxy::asio::ssl::stream_base::server, kUseTuple);
    if (error) {
      spdlog::debug("HTTP client {}: TLS handshake failed: {}", client_, error.message());
      co_return false;
    }
  }
  co_return true;
}

template <typename Stream>
Awaitable<void> StreamConnection<Stream>::ServeRequests() {
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(HttpServer::kMaxHeaderBytes);
    Lowest().expires_after(HttpServer::kIdleTimeout);
    auto [read_error, read] = co_await http::async_read_header(stream_, buffer_, parser, kUseTuple);
    if (read_error) {
      co_await RefuseUnreadable(read_error);
      break;
    }
    const auto& message = parser.get();
    // Nothing served takes a body, and none is read: the connection ends
    // after the answer. A GET or HEAD with one is malformed; for any other
    // method the route answers (405, or 400 for a command).
    const bool reads_only = message.method() == http::verb::get || message.method() == http::verb::head;
    if (!parser.is_done() && reads_only) {
      co_await RefuseUnreadable(http::error::unexpected_body);
      break;
    }
    const HttpRequest request{
        .method = MethodOf(message.method()),
        .target = {message.target().data(), message.target().size()},
        .authorization = {message[http::field::authorization].data(), message[http::field::authorization].size()},
        .has_origin = message.find(http::field::origin) != message.end(),
        .has_body = !parser.is_done(),
        .client = client_,
    };
    HttpReply reply = co_await routes_.Handle(request);

    http::response<http::string_body> response{static_cast<http::status>(reply.status), message.version()};
    response.set(http::field::server, "pgvalve");
    response.set(http::field::content_type, reply.content_type);
    response.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : reply.headers) response.set(name, value);
    response.keep_alive(message.keep_alive() && parser.is_done());
    const size_t length = reply.body.size();
    // HEAD: GET's headers, Content-Length included, without the body.
    if (request.method != HttpMethod::kHead) response.body() = std::move(reply.body);
    response.content_length(length);
    if (!co_await Write(response) || !response.keep_alive()) break;
  }
}

template <typename Stream>
Awaitable<void> StreamConnection<Stream>::EndConnection() {
  Lowest().expires_after(kLingerTimeout);
  if constexpr (kTls) {
    // close_notify, so the client knows the answer is whole.
    auto [error] = co_await stream_.async_shutdown(kUseTuple);
    if (error) co_return;
  }
  error_code ignored;
  Socket().shutdown(proxy::tcp::socket::shutdown_send, ignored);
  // Closing a socket with unread bytes (a refused request's body) resets
  // the connection, and the peer may lose the answer before reading it; so
  // what it still sends is read and dropped until it closes, for a while.
  std::array<char, 4096> sink;
  size_t drained = 0;
  while (drained < kMaxLingerBytes) {
    auto [error, read] = co_await Lowest().async_read_some(proxy::asio::buffer(sink), kUseTuple);
    if (error) break;
    drained += read;
  }
}

template <typename Stream>
Awaitable<void> StreamConnection<Stream>::RefuseUnreadable(const error_code& error) {
  if (error.category() != http::make_error_code(http::error::end_of_stream).category() ||
      error == http::error::end_of_stream) {
    co_return;  // the peer left, went silent or reset: nobody to tell
  }
  const bool too_large = error == http::error::header_limit || error == http::error::buffer_overflow;
  http::response<http::string_body> response{too_large ? http::status::request_header_fields_too_large
                                                       : http::status::bad_request,
                                             11};
  response.set(http::field::server, "pgvalve");
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  response.body() = too_large ? "request header too large\n" : "malformed HTTP request: " + error.message() + "\n";
  response.keep_alive(false);
  response.prepare_payload();
  co_await Write(response);
}

template <typename Stream>
Awaitable<bool> StreamConnection<Stream>::Write(http::response<http::string_body>& response) {
  Lowest().expires_after(HttpServer::kIdleTimeout);
  auto [error, written] = co_await http::async_write(stream_, response, kUseTuple);
  co_return !error;
}

}  // namespace

HttpServer::HttpServer(proxy::asio::io_context& context, HttpRoutes& routes, const proxy::ConfigHolder& config)
    : context_(context),
      routes_(routes),
      config_(config),
      listener_(
          context, [&context]() -> proxy::asio::io_context& { return context; },
          [this](proxy::ByteStream stream, proxy::ClientAddress address) {
            OnConnection(std::move(stream), address);
          }) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Listen(const std::vector<config::ListenAddress>& addresses) {
  for (const auto& address : addresses) {
    if (absl::Status status = listener_.ListenTcp(address); !status.ok()) return status;
  }
  return absl::OkStatus();
}

void HttpServer::Start() { listener_.Start(); }

void HttpServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  listener_.Stop();
  for (const auto& connection : connections_) connection->Close();
}

void HttpServer::OnConnection(proxy::ByteStream stream, const proxy::ClientAddress& address) {
  if (stopped_ || connections_.size() >= kMaxConnections) return;  // the stream closes here
  std::variant<proxy::TcpStream, proxy::UnixStream> socket = std::move(stream).TakeSocket();
  PlainStream plain(std::move(std::get<proxy::TcpStream>(socket)));
  std::shared_ptr<Connection> connection;
  // The contexts current when the connection starts: a reload that
  // replaced the certificate serves the next connection with it.
  if (SSL_CTX* native = config_.Tls()->http()) {
    // Asio's context frees the OpenSSL context it wraps: it gets a
    // reference of its own.
    SSL_CTX_up_ref(native);
    auto tls = std::make_shared<proxy::asio::ssl::context>(native);
    connection = std::make_shared<StreamConnection<TlsStream>>(TlsStream(std::move(plain), *tls), tls,
                                                               address.ToString(), routes_);
  } else {
    connection = std::make_shared<StreamConnection<PlainStream>>(std::move(plain), nullptr, address.ToString(),
                                                                 routes_);
  }
  connections_.insert(connection);
  proxy::asio::co_spawn(context_, connection->Serve(), [this, connection](std::exception_ptr failure) {
    connections_.erase(connection);
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& error) {
      spdlog::error("HTTP connection ended by an unexpected error: {}", error.what());
    }
  });
}

}  // namespace pgvalve::admin
