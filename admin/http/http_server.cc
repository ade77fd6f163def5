#include "admin/http/http_server.h"

#include <array>
#include <string>
#include <utility>
#include <variant>

#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "spdlog/spdlog.h"

namespace pgvalve::admin {

namespace beast = boost::beast;
namespace http = beast::http;
using proxy::Awaitable;
using proxy::error_code;
using proxy::kUseTuple;

class HttpServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(proxy::TcpStream socket, std::string client, HttpRoutes& routes)
      : stream_(std::move(socket)), client_(std::move(client)), routes_(routes) {}

  Awaitable<void> Serve();
  void Close() {
    error_code ignored;
    stream_.socket().close(ignored);
  }

 private:
  // Answers a request that could not be read (malformed, too large) and
  // ends the connection; nothing for a peer that simply left.
  Awaitable<void> RefuseUnreadable(const error_code& error);
  Awaitable<bool> Write(http::response<http::string_body>& response);
  Awaitable<void> DrainBeforeClose();

  static constexpr std::chrono::seconds kLingerTimeout{2};
  static constexpr size_t kMaxLingerBytes = 1 << 20;

  beast::basic_stream<proxy::tcp, proxy::IoContextExecutor> stream_;
  const std::string client_;
  HttpRoutes& routes_;
  beast::flat_buffer buffer_{kMaxHeaderBytes};
};

namespace {

HttpMethod MethodOf(http::verb verb) {
  switch (verb) {
    case http::verb::get: return HttpMethod::kGet;
    case http::verb::head: return HttpMethod::kHead;
    default: return HttpMethod::kOther;
  }
}

}  // namespace

Awaitable<void> HttpServer::Connection::Serve() {
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    stream_.expires_after(kIdleTimeout);
    auto [read_error, read] = co_await http::async_read_header(stream_, buffer_, parser, kUseTuple);
    if (read_error) {
      co_await RefuseUnreadable(read_error);
      break;
    }
    const auto& message = parser.get();
    // Nothing served takes a body. A method that is not served is told so
    // (405) whatever it carries; a GET with a body is malformed. Either way
    // the body is never read, so the connection ends after the answer.
    const bool served_method = message.method() == http::verb::get || message.method() == http::verb::head;
    if (!parser.is_done() && served_method) {
      co_await RefuseUnreadable(http::error::unexpected_body);
      break;
    }
    const HttpRequest request{
        .method = MethodOf(message.method()),
        .target = {message.target().data(), message.target().size()},
        .authorization = {message[http::field::authorization].data(), message[http::field::authorization].size()},
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
  error_code ignored;
  stream_.socket().shutdown(proxy::tcp::socket::shutdown_send, ignored);
  co_await DrainBeforeClose();
}

Awaitable<void> HttpServer::Connection::DrainBeforeClose() {
  // Closing a socket with unread bytes (a refused request's body) resets
  // the connection, and the peer may lose the answer before reading it; so
  // what it still sends is read and dropped until it closes, for a while.
  stream_.expires_after(kLingerTimeout);
  std::array<char, 4096> sink;
  size_t drained = 0;
  while (drained < kMaxLingerBytes) {
    auto [error, read] = co_await stream_.async_read_some(proxy::asio::buffer(sink), kUseTuple);
    if (error) break;
    drained += read;
  }
}

Awaitable<void> HttpServer::Connection::RefuseUnreadable(const error_code& error) {
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

Awaitable<bool> HttpServer::Connection::Write(http::response<http::string_body>& response) {
  stream_.expires_after(kIdleTimeout);
  auto [error, written] = co_await http::async_write(stream_, response, kUseTuple);
  co_return !error;
}

HttpServer::HttpServer(proxy::asio::io_context& context, HttpRoutes& routes)
    : context_(context),
      routes_(routes),
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
  auto connection = std::make_shared<Connection>(std::move(std::get<proxy::TcpStream>(socket)), address.ToString(),
                                                 routes_);
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
