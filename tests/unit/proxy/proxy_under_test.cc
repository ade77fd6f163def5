#include "tests/unit/proxy/proxy_under_test.h"

#include <spdlog/spdlog.h>

#include "gtest/gtest.h"
#include "proxy/status_text.h"

namespace pgvalve::proxy::testutil {

config::Config MakeConfig(uint16_t upstream_port) {
  config::Config config;
  config.source = "<component test>";
  config.proxy.listen = {config::ListenAddress{"127.0.0.1", 0}};
  config.proxy.workers = 2;
  config.admin.listen.clear();
  config::UpstreamConfig upstream;
  upstream.name = kUpstreamName;
  upstream.host = "127.0.0.1";
  upstream.port = upstream_port;
  config.upstreams.emplace(kUpstreamName, upstream);
  config.databases.emplace("*", config::DatabaseRoute{"*", kUpstreamName});
  return config;
}

ProxyUnderTest::ProxyUnderTest(config::Config config) {
  // Warnings and errors only: they are what a failing test needs.
  spdlog::set_level(spdlog::level::warn);
  server_ = std::make_unique<ProxyServer>(std::move(config), [] {
    return absl::StatusOr<config::Config>(absl::UnimplementedError("no reload in tests"));
  });
  absl::Status started = server_->Start();
  if (!started.ok()) {
    ADD_FAILURE() << "ProxyServer::Start: " << StatusText(started);
    return;
  }
  std::vector<uint16_t> ports = server_->proxy_ports();
  if (ports.size() != 1 || ports.front() == 0) {
    ADD_FAILURE() << "expected one bound proxy port, got " << ports.size();
  } else {
    port_ = ports.front();
  }
  runner_ = std::thread([this] {
    server_->Run();
    run_returned_ = true;
  });
}

ProxyUnderTest::~ProxyUnderTest() {
  if (runner_.joinable()) {
    WaitFor([this] { return server_->sessions().slots_in_use() == 0; }, Millis(2000));
  }
  ShutdownAndJoin();
}

void ProxyUnderTest::ShutdownAndJoin() {
  if (!runner_.joinable()) return;
  server_->Shutdown(ShutdownMode::kFast);
  runner_.join();
}

bool ProxyUnderTest::WaitForRunToReturn(Millis timeout) const {
  return WaitFor([this] { return run_returned_.load(); }, timeout);
}

Parameters ClientParameters(std::string user, std::string database) {
  return {{"user", std::move(user)}, {"database", std::move(database)},
          {"application_name", "component-test"}};
}

TestClient StartSession(const ProxyUnderTest& proxy, const Parameters& parameters) {
  TestClient session;
  session.socket = proxy.Connect();
  if (!session.socket.valid()) {
    ADD_FAILURE() << "could not connect to pgvalve on port " << proxy.port();
    return session;
  }
  if (!session.socket.Send(StartupPacket(parameters))) {
    ADD_FAILURE() << "could not send the startup packet";
    return session;
  }
  MessagesRead read = ReadUntil(session.socket, 'Z');
  session.ready = read.status == ReadStatus::kOk;
  EXPECT_TRUE(session.ready) << "startup replies ended with " << ReadStatusName(read.status)
                             << " after '" << read.Tags() << "'";
  for (const Message& message : read.messages) {
    if (message.tag == 'K') session.key = ParseKeyData(message);
  }
  session.startup_replies = std::move(read.messages);
  return session;
}

bool QueryRoundTrip(TestSocket& socket, std::string_view sql) {
  if (!socket.Send(QueryMessage(sql))) return false;
  MessagesRead read = ReadUntil(socket, 'Z');
  return read.status == ReadStatus::kOk && read.Tags() == "CZ";
}

bool WaitFor(const std::function<bool()>& condition, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(Millis(5));
  }
  return true;
}

}  // namespace pgvalve::proxy::testutil
