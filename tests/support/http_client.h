#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgvalve::test {

// A user name and password sent as `Authorization: Basic ...`.
struct BasicCredentials {
  std::string user;
  std::string password;
};

// One HTTP/1.1 request to a server on this machine, on a connection of its
// own that is closed afterwards.
struct HttpRequest {
  std::string method = "GET";
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string target = "/";  // path and query, already percent-encoded
  std::optional<BasicCredentials> credentials;
  std::string body;  // sent with Content-Length when not empty
  // More header fields, e.g. {"Origin", "https://example.com"}.
  std::vector<std::pair<std::string, std::string>> headers;
  // Bounds the whole exchange (connect, write, read): a server that
  // accepts and never answers fails the request instead of hanging the test.
  std::chrono::milliseconds timeout{10'000};
};

struct HttpResponse {
  int status = 0;
  // In the order received, names as the server spelled them.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The first header named `name` (compared without regard to case), or
  // nothing.
  std::optional<std::string> Header(std::string_view name) const;
  // Status, headers and body, for failure messages.
  std::string ToString() const;
};

// Sends `request` and reads the whole response. Throws std::runtime_error
// naming the request when the connection fails, the response is not HTTP,
// or the timeout passes.
HttpResponse SendHttpRequest(const HttpRequest& request);

// GET http://127.0.0.1:port`target`.
HttpResponse HttpGet(uint16_t port, std::string_view target,
                     std::optional<BasicCredentials> credentials = std::nullopt);

// Polls GET `target` on 127.0.0.1:`port` until `ready` says yes of an
// answer. Throws std::runtime_error, naming `server`, with the last answer
// and `log_tail()`, once `pid` exits (then set to -1) or `timeout` passes.
// For test servers started in the background (Prometheus, etcd).
void WaitForHttpReady(std::string_view server, pid_t& pid, uint16_t port, std::string_view target,
                      const std::function<bool(const HttpResponse&)>& ready, std::chrono::milliseconds timeout,
                      const std::function<std::string()>& log_tail);

// The value of one series on a Prometheus exposition page, as written, e.g.
// for `pgvalve_sessions_refused_total{reason="disabled"}`; nullopt when the
// page has no such sample.
std::optional<std::string> ExpositionSample(const std::string& page, const std::string& series);

// "user:password" in base64, as the Basic scheme (RFC 7617) sends it.
std::string BasicAuthorizationValue(const BasicCredentials& credentials);

// Percent-encodes everything but RFC 3986's unreserved characters, for a
// query parameter's value.
std::string PercentEncode(std::string_view text);

}  // namespace pgvalve::test
