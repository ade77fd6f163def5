// The relay loop end to end in one process: a client thread sends simple
// Queries through a pgvalve ProxyServer (one worker) to a scripted server
// that answers each with RowDescription, N DataRows of 100 bytes,
// CommandComplete and ReadyForQuery. Each benchmark iteration is one round
// trip. The same client against the scripted server directly gives the
// baseline, so the difference is what the relay adds per round trip.
//
// Everything runs on loopback TCP and on the same cores, like the scripted
// server would in the component tests; absolute numbers say more about the
// machine than about pgvalve, the proxy-minus-direct difference less so.

#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "protocol/backend_writer.h"
#include "protocol/message_scanner.h"
#include "protocol/message_tags.h"
#include "protocol/message_writer.h"
#include "proxy/proxy_server.h"
#include "proxy/status_text.h"

namespace pgvalve::bench {
namespace {

using protocol::BackendTag;
using protocol::FrontendTag;
using protocol::MessageWriter;

constexpr uint32_t kSslRequestCode = 80877103;
constexpr uint32_t kProtocol30 = 3u << 16;
constexpr size_t kRowSize = 100;

uint32_t LoadBig32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return ntohl(v);
}

// A blocking TCP socket with a read buffer: just enough to speak v3 frames.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    buffer_.resize(256 * 1024);
  }
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  static std::unique_ptr<Socket> Connect(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      if (fd >= 0) close(fd);
      throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
    }
    return std::make_unique<Socket>(fd);
  }

  bool Send(std::span<const std::byte> bytes) {
    while (!bytes.empty()) {
      ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes = bytes.subspan(static_cast<size_t>(n));
    }
    return true;
  }

  // Makes at least `n` bytes available at Peek(); false on EOF or error.
  bool Fill(size_t n) {
    if (end_ - start_ >= n) return true;
    if (start_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + start_, end_ - start_);
      end_ -= start_;
      start_ = 0;
    }
    if (n > buffer_.size()) buffer_.resize(n);
    while (end_ < n) {
      ssize_t got = recv(fd_, buffer_.data() + end_, buffer_.size() - end_, 0);
      if (got <= 0) return false;
      end_ += static_cast<size_t>(got);
    }
    return true;
  }
  const std::byte* Peek() const { return buffer_.data() + start_; }
  void Skip(size_t n) { start_ += n; }

  // Reads one tagged message; returns its tag, or nullopt on EOF.
  std::optional<char> ReadMessage(std::string* body = nullptr) {
    if (!Fill(5)) return std::nullopt;
    const char tag = static_cast<char>(Peek()[0]);
    const uint32_t length = LoadBig32(Peek() + 1);
    if (length < 4 || !Fill(size_t{1} + length)) return std::nullopt;
    if (body) body->assign(reinterpret_cast<const char*>(Peek() + 5), length - 4);
    Skip(size_t{1} + length);
    return tag;
  }

  void ShutdownBoth() { shutdown(fd_, SHUT_RDWR); }

 private:
  int fd_;
  std::vector<std::byte> buffer_;
  size_t start_ = 0;
  size_t end_ = 0;
};

// Answers a Query whose text is a number N with N rows of 100 bytes.
class ScriptedServer {
 public:
  ScriptedServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("scripted server: cannot listen");
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~ScriptedServer() {
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    acceptor_.join();
    std::lock_guard lock(mutex_);
    for (auto& connection : connections_) connection->ShutdownBoth();
    for (auto& thread : threads_) thread.join();
  }

  uint16_t port() const { return port_; }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      auto connection = std::make_shared<Socket>(fd);
      std::lock_guard lock(mutex_);
      connections_.push_back(connection);
      threads_.emplace_back([connection] { Serve(*connection); });
    }
  }

  static void Serve(Socket& connection) {
    // Startup family: Int32 length, Int32 code, then parameters.
    while (true) {
      if (!connection.Fill(8)) return;
      const uint32_t length = LoadBig32(connection.Peek());
      const uint32_t code = LoadBig32(connection.Peek() + 4);
      if (length < 8 || !connection.Fill(length)) return;
      connection.Skip(length);
      if (code == kSslRequestCode) {
        const std::byte refused{'N'};
        if (!connection.Send(std::span(&refused, 1))) return;
        continue;
      }
      if (code != kProtocol30) return;
      break;
    }
    MessageWriter hello;
    protocol::AppendAuthentication(hello, protocol::AuthenticationCode::kOk);
    protocol::AppendParameterStatus(hello, "server_version", "15.0");
    protocol::AppendParameterStatus(hello, "client_encoding", "UTF8");
    const std::byte secret[4] = {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
    protocol::AppendBackendKeyData(hello, 4242, secret);
    protocol::AppendReadyForQuery(hello, protocol::TransactionStatus::kIdle);
    if (!connection.Send(hello.bytes())) return;

    std::string body;
    std::string row_value(kRowSize, 'x');
    MessageWriter reply;
    int reply_rows = -1;
    while (auto tag = connection.ReadMessage(&body)) {
      if (static_cast<FrontendTag>(*tag) == FrontendTag::kTerminate) return;
      if (static_cast<FrontendTag>(*tag) != FrontendTag::kQuery) continue;
      const int rows = std::atoi(body.c_str());
      if (rows != reply_rows) {
        reply.Clear();
        const protocol::ColumnSpec column{"v", protocol::ColumnType::kText};
        protocol::AppendRowDescription(reply, std::span(&column, 1));
        const std::optional<std::string_view> row[] = {row_value};
        for (int i = 0; i < rows; ++i) protocol::AppendDataRow(reply, row);
        protocol::AppendCommandComplete(reply, "SELECT " + std::to_string(rows));
        protocol::AppendReadyForQuery(reply, protocol::TransactionStatus::kIdle);
        reply_rows = rows;
      }
      if (!connection.Send(reply.bytes())) return;
    }
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Socket>> connections_;
  std::vector<std::thread> threads_;
};

// pgvalve with one worker in front of the scripted server.
class InProcessProxy {
 public:
  explicit InProcessProxy(uint16_t upstream_port) {
    spdlog::set_level(spdlog::level::warn);  // no line per session
    config::Config config;
    config.source = "<relay benchmark>";
    config.proxy.listen = {config::ListenAddress{"127.0.0.1", 0}};
    config.proxy.workers = 1;
    config.admin.listen.clear();
    config::UpstreamConfig upstream;
    upstream.name = "scripted";
    upstream.port = upstream_port;
    config.upstreams.emplace(upstream.name, upstream);
    config.databases.emplace("*", config::DatabaseRoute{"*", upstream.name});
    server_ = std::make_unique<proxy::ProxyServer>(std::move(config), [] {
      return absl::StatusOr<config::Config>(absl::UnimplementedError("no reload here"));
    });
    if (absl::Status started = server_->Start(); !started.ok()) {
      throw std::runtime_error("ProxyServer::Start: " + std::string(proxy::StatusText(started)));
    }
    port_ = server_->proxy_ports().at(0);
    runner_ = std::thread([this] { server_->Run(); });
  }
  ~InProcessProxy() {
    server_->Shutdown(proxy::ShutdownMode::kFast);
    runner_.join();
  }
  uint16_t port() const { return port_; }

 private:
  std::unique_ptr<proxy::ProxyServer> server_;
  std::thread runner_;
  uint16_t port_ = 0;
};

// Started on first use, stopped by main() after the benchmarks.
struct Environment {
  ScriptedServer server;
  InProcessProxy proxy{server.port()};
};
std::unique_ptr<Environment> environment;

Environment& Env() {
  if (!environment) environment = std::make_unique<Environment>();
  return *environment;
}

std::unique_ptr<Socket> StartSession(uint16_t port) {
  auto socket = Socket::Connect(port);
  MessageWriter startup;
  startup.BeginUntagged().Int32(static_cast<int32_t>(kProtocol30));
  startup.CString("user").CString("bench").CString("database").CString("bench").Byte(0).End();
  if (!socket->Send(startup.bytes())) throw std::runtime_error("startup: send failed");
  while (auto tag = socket->ReadMessage()) {
    if (static_cast<BackendTag>(*tag) == BackendTag::kReadyForQuery) return socket;
  }
  throw std::runtime_error("startup: no ReadyForQuery");
}

void RoundTrips(benchmark::State& state, bool through_proxy) {
  const int rows = static_cast<int>(state.range(0));
  Environment& env = Env();
  auto socket = StartSession(through_proxy ? env.proxy.port() : env.server.port());
  MessageWriter query;
  query.Begin(FrontendTag::kQuery).CString(std::to_string(rows)).End();
  int64_t bytes = 0;
  for (auto _ : state) {
    if (!socket->Send(query.bytes())) {
      state.SkipWithError("send failed");
      break;
    }
    // Skips through the reply by headers until ReadyForQuery.
    while (true) {
      if (!socket->Fill(5)) {
        state.SkipWithError("connection closed");
        return;
      }
      const char tag = static_cast<char>(socket->Peek()[0]);
      const size_t total = size_t{1} + LoadBig32(socket->Peek() + 1);
      if (!socket->Fill(total)) {
        state.SkipWithError("connection closed");
        return;
      }
      socket->Skip(total);
      bytes += static_cast<int64_t>(total);
      if (static_cast<BackendTag>(tag) == BackendTag::kReadyForQuery) break;
    }
  }
  MessageWriter terminate;
  terminate.Begin(FrontendTag::kTerminate).End();
  socket->Send(terminate.bytes());
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(state.iterations());
}

void BM_RoundTripDirect(benchmark::State& state) { RoundTrips(state, false); }
void BM_RoundTripProxy(benchmark::State& state) { RoundTrips(state, true); }
BENCHMARK(BM_RoundTripDirect)->Arg(1)->Arg(100)->Arg(10000)->UseRealTime();
BENCHMARK(BM_RoundTripProxy)->Arg(1)->Arg(100)->Arg(10000)->UseRealTime();

}  // namespace

void StopRelayEnvironment() { environment.reset(); }

}  // namespace pgvalve::bench
