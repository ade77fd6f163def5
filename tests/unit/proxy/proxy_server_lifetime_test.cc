// ProxyServer's own lifetime: started, shut down, destroyed, with no session
// ever connecting. Memory errors here surface in the sanitizer build
// (-DPGVALVE_SANITIZE=ON); a plain build runs them silently.

#include <memory>
#include <thread>

#include "gtest/gtest.h"
#include "proxy/proxy_server.h"
#include "proxy/status_text.h"
#include "tests/unit/proxy/proxy_under_test.h"

namespace pgvalve::proxy {
namespace {

using namespace testutil;

std::unique_ptr<ProxyServer> StartedServer() {
  auto server = std::make_unique<ProxyServer>(MakeConfig(/*upstream_port=*/1), [] {
    return absl::StatusOr<config::Config>(absl::UnimplementedError("no reload in tests"));
  });
  absl::Status started = server->Start();
  EXPECT_TRUE(started.ok()) << StatusText(started);
  return server;
}

// A pending accept must not own a socket of a worker's io_context: when
// shutdown stops the control context with the accept still queued, that
// socket would be destroyed after its worker's io_context, which
// ~ProxyServer destroys first. AddressSanitizer catches a regression here.
TEST(ProxyServerLifetimeTest, DestroyingAfterFastShutdownTouchesNoFreedMemory) {
  std::unique_ptr<ProxyServer> server = StartedServer();
  ASSERT_FALSE(server->proxy_ports().empty());
  std::thread runner([&] { server->Run(); });
  server->Shutdown(ShutdownMode::kFast);
  runner.join();
  server.reset();
}

TEST(ProxyServerLifetimeTest, DestroyingWithoutRunningTouchesNoFreedMemory) {
  std::unique_ptr<ProxyServer> server = StartedServer();
  server.reset();
}

}  // namespace
}  // namespace pgvalve::proxy
