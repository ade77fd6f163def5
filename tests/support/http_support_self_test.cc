// Tests of the HTTP pieces of the harness: the JSON reader, the HTTP
// client and PrometheusServer, against a real Prometheus and a scripted
// scrape target, so that they are trusted before they judge pgvalve's
// /metrics.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/free_port.h"
#include "tests/support/http_client.h"
#include "tests/support/json_value.h"
#include "tests/support/prometheus_server.h"

namespace pgvalve::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using ::testing::HasSubstr;

TEST(JsonValueTest, ReadsEveryKind) {
  const JsonValue value = JsonValue::Parse(
      R"( {"s": "a\"b\\c\n\u00e9\ud83d\ude00", "n": -1.5e3, "t": true, "f": false,
           "z": null, "a": [1, [], {}], "o": {"k": "v"}} )");
  EXPECT_EQ(value.At("s").AsString(), "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(value.At("n").AsNumberText(), "-1.5e3");
  EXPECT_TRUE(value.At("t").AsBool());
  EXPECT_FALSE(value.At("f").AsBool());
  EXPECT_TRUE(value.At("z").is_null());
  ASSERT_EQ(value.At("a").AsArray().size(), 3u);
  EXPECT_EQ(value.At("a").AsArray()[0].AsNumberText(), "1");
  EXPECT_TRUE(value.At("a").AsArray()[1].AsArray().empty());
  EXPECT_TRUE(value.At("a").AsArray()[2].AsObject().empty());
  EXPECT_EQ(value.At("o").At("k").AsString(), "v");
  EXPECT_TRUE(value.Has("o"));
  EXPECT_FALSE(value.Has("missing"));
}

TEST(JsonValueTest, RejectsMalformedDocuments) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "\"open", "tru", "1 2", "{\"a\":1}x",
                          "-", "1.", "\"\\x\"", "\"\\ud800\"", "\"a\nb\""}) {
    EXPECT_THROW(JsonValue::Parse(bad), std::runtime_error) << bad;
  }
}

TEST(JsonValueTest, WrongKindOrMissingMemberThrowsWithAReason) {
  const JsonValue value = JsonValue::Parse(R"({"a": "text"})");
  EXPECT_THROW(value.At("a").AsNumberText(), std::runtime_error);
  EXPECT_THROW(value.At("b"), std::runtime_error);
  EXPECT_THROW(value.At("a").At("c"), std::runtime_error);
}

TEST(JsonValueTest, RejectsNestingBeyondItsLimit) {
  EXPECT_THROW(JsonValue::Parse(std::string(1000, '[') + std::string(1000, ']')),
               std::runtime_error);
}

TEST(HttpEncodingTest, BasicAuthorizationAndPercentEncoding) {
  // RFC 7617's example.
  EXPECT_EQ(BasicAuthorizationValue({"Aladdin", "open sesame"}), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  EXPECT_EQ(BasicAuthorizationValue({"a", ""}), "YTo=");
  EXPECT_EQ(PercentEncode(R"(up{job="x"} / 2)"), "up%7Bjob%3D%22x%22%7D%20%2F%202");
  EXPECT_EQ(PercentEncode("a-b_c.d~9"), "a-b_c.d~9");
}

TEST(HttpClientTest, RefusedConnectionThrowsNamingTheRequest) {
  const uint16_t port = FreeTcpPort();
  try {
    HttpGet(port, "/x");
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("GET http://127.0.0.1:" + std::to_string(port) + "/x"));
  }
}

TEST(HttpClientTest, SilentServerTimesOut) {
  // The kernel completes the handshake for a listening socket nobody
  // accepts on, so the client connects and then waits for an answer.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  HttpRequest request;
  request.port = ntohs(address.sin_port);
  request.timeout = milliseconds(300);
  const auto start = steady_clock::now();
  EXPECT_THROW(SendHttpRequest(request), std::runtime_error);
  EXPECT_LT(steady_clock::now() - start, milliseconds(5'000));
  ::close(fd);
}

// A scrape target that answers every request with the same exposition and
// keeps the requests it received, to see what Prometheus sends.
class ScriptedScrapeTarget {
 public:
  explicit ScriptedScrapeTarget(std::string exposition) : exposition_(std::move(exposition)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (listen_fd_ < 0 ||
        ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot listen for the scripted scrape target");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedScrapeTarget() {
    stopping_ = true;
    thread_.join();
    ::close(listen_fd_);
  }

  uint16_t port() const { return port_; }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stopping_) {
      pollfd poll_fd{listen_fd_, POLLIN, 0};
      if (::poll(&poll_fd, 1, 50) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      const std::string request = ReadHead(fd);
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
      }
      const std::string response =
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
          std::to_string(exposition_.size()) + "\r\nConnection: close\r\n\r\n" + exposition_;
      (void)!::send(fd, response.data(), response.size(), MSG_NOSIGNAL);
      ::close(fd);
    }
  }

  // The request line and headers; a scrape is a GET without a body.
  static std::string ReadHead(int fd) {
    std::string head;
    char buffer[1024];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
      pollfd poll_fd{fd, POLLIN, 0};
      if (::poll(&poll_fd, 1, 2'000) <= 0) break;
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      head.append(buffer, static_cast<size_t>(n));
    }
    return head;
  }

  std::string exposition_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

TEST(PrometheusServerTest, ScrapesItsTargetWithBasicAuth) {
  ScriptedScrapeTarget target("# TYPE scripted_total counter\nscripted_total{db=\"x\"} 7\n");
  PrometheusServer::Options options;
  options.target_port = target.port();
  options.credentials = BasicCredentials{"scraper", "s3cret"};
  PrometheusServer prometheus(options);

  EXPECT_EQ(prometheus.WaitForValue("scripted_total", "7", milliseconds(30'000)), "7")
      << prometheus.LogTail();
  const std::vector<PrometheusServer::Sample> samples = prometheus.Query("scripted_total");
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].labels.at("db"), "x");
  EXPECT_EQ(samples[0].labels.at("job"), "pgvalve");
  EXPECT_EQ(samples[0].labels.at("instance"), "127.0.0.1:" + std::to_string(target.port()));
  const std::vector<std::string> requests = target.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_THAT(requests.front(), HasSubstr("GET /metrics HTTP/1.1"));
  EXPECT_THAT(requests.front(),
              HasSubstr("Authorization: Basic " + BasicAuthorizationValue({"scraper", "s3cret"})));
}

TEST(PrometheusServerTest, ReportsADownTargetAndQueryErrors) {
  PrometheusServer::Options options;
  options.target_port = FreeTcpPort();
  PrometheusServer prometheus(options);
  EXPECT_EQ(prometheus.WaitForValue("up", "0", milliseconds(30'000)), "0")
      << prometheus.LogTail();
  EXPECT_EQ(prometheus.QueryOne("vector(42)"), "42");
  EXPECT_EQ(prometheus.QueryOne("absent_metric_of_this_test"), std::nullopt);
  EXPECT_THROW(prometheus.Query("sum(("), std::runtime_error);
  // A scalar is not an instant vector.
  EXPECT_THROW(prometheus.Query("42"), std::runtime_error);
}

TEST(PrometheusServerTest, DestructionStopsTheProcess) {
  pid_t pid = -1;
  {
    PrometheusServer::Options options;
    options.target_port = FreeTcpPort();
    PrometheusServer prometheus(options);
    pid = prometheus.pid();
    ASSERT_GT(pid, 0);
    EXPECT_EQ(HttpGet(prometheus.port(), "/-/healthy").status, 200);
    EXPECT_EQ(HttpGet(prometheus.port(), "/no/such/page").status, 404);
  }
  // Reaped, so the pid no longer names our child.
  EXPECT_NE(::kill(pid, 0), 0);
}

}  // namespace
}  // namespace pgvalve::test
