#include "tests/support/http_client.h"

#include <openssl/evp.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/system/system_error.hpp>

#include <cctype>
#include <exception>
#include <stdexcept>
#include <thread>

#include "tests/support/subprocess.h"

namespace pgvalve::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// Bodies the tests read are small; a runaway one should fail, not fill memory.
constexpr uint64_t kMaxBodyBytes = 64 * 1024 * 1024;

bool EqualIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string Describe(const HttpRequest& request) {
  return request.method + " http://" + request.host + ":" + std::to_string(request.port) +
         request.target;
}

http::request<http::string_body> BeastRequest(const HttpRequest& request) {
  http::request<http::string_body> beast_request;
  beast_request.method_string(request.method);
  beast_request.target(request.target);
  beast_request.version(11);
  beast_request.set(http::field::host, request.host + ":" + std::to_string(request.port));
  beast_request.keep_alive(false);
  if (request.credentials) {
    beast_request.set(http::field::authorization,
                      "Basic " + BasicAuthorizationValue(*request.credentials));
  }
  for (const auto& [name, value] : request.headers) beast_request.set(name, value);
  if (!request.body.empty()) beast_request.body() = request.body;
  beast_request.prepare_payload();
  return beast_request;
}

// The whole exchange as one coroutine; the stream's deadline, set once,
// bounds every step together.
asio::awaitable<HttpResponse> Exchange(beast::tcp_stream& stream, const HttpRequest& request) {
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(request.host), request.port);
  stream.expires_after(request.timeout);
  co_await stream.async_connect(endpoint, asio::use_awaitable);
  http::request<http::string_body> beast_request = BeastRequest(request);
  co_await http::async_write(stream, beast_request, asio::use_awaitable);

  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBodyBytes);
  // A response to HEAD has headers that announce a body it never sends.
  if (request.method == "HEAD") parser.skip(true);
  beast::flat_buffer buffer;
  co_await http::async_read(stream, buffer, parser, asio::use_awaitable);

  HttpResponse response;
  const http::response<http::string_body>& message = parser.get();
  response.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  response.body = message.body();
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  co_return response;
}

}  // namespace

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const auto& [header, value] : headers) {
    if (EqualIgnoringCase(header, name)) return value;
  }
  return std::nullopt;
}

std::string HttpResponse::ToString() const {
  std::string text = "HTTP " + std::to_string(status) + "\n";
  for (const auto& [header, value] : headers) text += header + ": " + value + "\n";
  return text + "\n" + body;
}

HttpResponse SendHttpRequest(const HttpRequest& request) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  std::optional<HttpResponse> response;
  std::exception_ptr failure;
  asio::co_spawn(io, Exchange(stream, request),
                 [&](std::exception_ptr error, HttpResponse result) {
                   if (error) {
                     failure = error;
                   } else {
                     response = std::move(result);
                   }
                 });
  io.run();
  try {
    if (failure) std::rethrow_exception(failure);
  } catch (const boost::system::system_error& error) {
    const std::string reason =
        error.code() == beast::error::timeout
            ? "no complete response within " + std::to_string(request.timeout.count()) + " ms"
            : error.code().message();
    throw std::runtime_error(Describe(request) + ": " + reason);
  } catch (const std::exception& error) {
    throw std::runtime_error(Describe(request) + ": " + error.what());
  }
  if (!response) throw std::runtime_error(Describe(request) + ": no response");
  return std::move(*response);
}

HttpResponse HttpGet(uint16_t port, std::string_view target,
                     std::optional<BasicCredentials> credentials) {
  HttpRequest request;
  request.port = port;
  request.target = std::string(target);
  request.credentials = std::move(credentials);
  return SendHttpRequest(request);
}

void WaitForHttpReady(std::string_view server, pid_t& pid, uint16_t port, std::string_view target,
                      const std::function<bool(const HttpResponse&)>& ready, std::chrono::milliseconds timeout,
                      const std::function<std::string()>& log_tail) {
  constexpr std::chrono::milliseconds kPollInterval{50};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last_answer = "no connection";
  for (;;) {
    if (std::optional<int> status = WaitForExit(pid, std::chrono::milliseconds(0))) {
      pid = -1;
      throw std::runtime_error(std::string(server) + " " + DescribeWaitStatus(*status) +
                               " before it was ready; its log:\n" + log_tail());
    }
    try {
      HttpRequest request;
      request.port = port;
      request.target = std::string(target);
      request.timeout = std::chrono::milliseconds(2'000);
      const HttpResponse response = SendHttpRequest(request);
      if (ready(response)) return;
      last_answer = response.ToString();
    } catch (const std::runtime_error& error) {
      last_answer = error.what();
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error(std::string(server) + " on port " + std::to_string(port) + " not ready within " +
                               std::to_string(timeout.count()) + " ms (last answer: " + last_answer +
                               "); its log:\n" + log_tail());
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::optional<std::string> ExpositionSample(const std::string& page, const std::string& series) {
  const std::string prefix = series + " ";
  for (size_t at = page.find(prefix); at != std::string::npos; at = page.find(prefix, at + 1)) {
    if (at != 0 && page[at - 1] != '\n') continue;
    const size_t start = at + prefix.size();
    return page.substr(start, page.find('\n', start) - start);
  }
  return std::nullopt;
}

std::string BasicAuthorizationValue(const BasicCredentials& credentials) {
  const std::string plain = credentials.user + ":" + credentials.password;
  // EVP_EncodeBlock writes 4 bytes per 3 input bytes, rounded up, plus a NUL.
  std::string encoded(4 * ((plain.size() + 2) / 3) + 1, '\0');
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                     reinterpret_cast<const unsigned char*>(plain.data()),
                                     static_cast<int>(plain.size()));
  encoded.resize(static_cast<size_t>(length));
  return encoded;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      encoded.push_back(c);
    } else {
      encoded.push_back('%');
      encoded.push_back(kHex[byte >> 4]);
      encoded.push_back(kHex[byte & 0x0f]);
    }
  }
  return encoded;
}

}  // namespace pgvalve::test
