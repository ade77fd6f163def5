#pragma once
// A Relay built directly over socketpairs, on an io_context of its own
// thread: a blocking test client on one side, a blocking fake server
// ("blue") on the other. No ProxyServer: for tests of the relay's own
// contract with whoever owns it (its lifetime, the backend seam).

#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "gtest/gtest.h"
#include "proxy/backend_link.h"
#include "proxy/cancel_key_map.h"
#include "proxy/database_gate.h"
#include "proxy/proxy_events.h"
#include "proxy/relay.h"
#include "proxy/session_record.h"
#include "tests/unit/proxy/test_socket.h"
#include "tests/unit/proxy/wire.h"

namespace pgvalve::proxy::direct_relay {

using namespace testutil;

inline const Bytes kBlueSecret = {std::byte{0x01}, std::byte{0x02}, std::byte{0x03}, std::byte{0x04}};
inline constexpr int32_t kBluePid = 4242;

// One end of a socketpair for the relay, the other a blocking TestSocket
// for the test.
inline std::pair<ByteStream, TestSocket> MakeWire(asio::io_context& context) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) throw std::runtime_error("socketpair failed");
  UnixStream socket(context);
  socket.assign(unix_socket(), fds[0]);
  return {ByteStream(std::move(socket)), TestSocket(fds[1])};
}

// Runs `work` on the thread running `context` and returns its result.
template <typename Work>
auto RunOn(asio::io_context& context, Work work) {
  std::packaged_task<decltype(work())()> task(std::move(work));
  auto result = task.get_future();
  asio::post(context, [&task] { task(); });
  if (result.wait_for(kIoTimeout) != std::future_status::ready) throw std::runtime_error("relay thread stuck");
  return result.get();
}

class DirectRelayTest : public ::testing::Test, public RelayOwner {
 protected:
  DirectRelayTest() {
    auto [client_side, client_test] = MakeWire(context_);
    auto [blue_side, blue_test] = MakeWire(context_);
    client_stream_.emplace(std::move(client_side));
    client_ = std::move(client_test);
    blue_link_.emplace("blue", UpstreamConnection{std::move(blue_side), unix_socket::endpoint("/blue")});
    blue_ = std::move(blue_test);
  }

  ~DirectRelayTest() override { Shutdown(); }

  // Ends a relay a failed test left running, then stops the thread. A
  // fixture that derives from this one and gives the relay members of its
  // own calls it from its destructor, before those members go.
  void Shutdown() {
    if (started_ && ended_future_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      asio::post(context_, [this] { relay_->RequestClose(CloseWhen::kNow, "57P01", "test over"); });
      ended_future_.wait_for(kIoTimeout);
    }
    work_.reset();
    context_.stop();
    if (thread_.joinable()) thread_.join();
  }

  // Starts the relay on its thread. From then on the test holds no
  // reference to what the relay keeps alive: it watches it through
  // `owner_watch_`.
  void StartRelay(std::chrono::steady_clock::duration startup_time = std::chrono::minutes(5)) {
    RelayLimits limits;
    limits.startup_deadline = std::chrono::steady_clock::now() + startup_time;
    relay_.emplace(*this, *client_stream_, *blue_link_, record_, cancel_keys_, gate_, limits);
    thread_ = std::thread([this] { context_.run(); });
    started_ = true;
    RunOn(context_, [this] {
      relay_->Start();
      owner_.reset();
    });
  }

  // RelayOwner: a stand-in object plays the session's part.
  std::shared_ptr<void> RelayKeepalive() override { return owner_watch_.lock(); }
  void OnStartupComplete() override { ++startups_completed_; }
  void OnRelayEnded(RelayEnd end, std::exception_ptr) override {
    if (++ends_reported_ == 1) ended_.set_value(std::move(end));
  }
  ProxyEvents& Events() override { return events_; }

  template <typename Work>
  auto OnRelayThread(Work work) {
    return RunOn(context_, std::move(work));
  }

  // The blue server's startup reply reaches the client, with the key
  // replaced; returns the key the client got.
  KeyData StartSession() {
    EXPECT_TRUE(blue_.Send(StartupReply(kBluePid, kBlueSecret)));
    MessagesRead startup = ReadUntil(client_, 'Z');
    EXPECT_EQ(startup.Tags(), "RSKZ");
    std::optional<KeyData> key = ParseKeyData(startup.messages.at(2));
    if (!key) throw std::runtime_error("no BackendKeyData");
    return *key;
  }

  // One simple query from the client, answered by `server` with `status`.
  void RoundTrip(TestSocket& server, std::string_view sql, char status = 'I') {
    ASSERT_TRUE(client_.Send(QueryMessage(sql)));
    ReceivedMessage query = server.ReadMessage();
    ASSERT_TRUE(query.ok());
    EXPECT_EQ(QueryText(query.message), sql);
    ASSERT_TRUE(server.Send(Concat({CommandCompleteMessage("SELECT 1"), ReadyForQueryMessage(status)})));
    EXPECT_EQ(ReadUntil(client_, 'Z').Tags(), "CZ");
  }

  RelayEnd WaitForEnd() {
    if (ended_future_.wait_for(kIoTimeout) != std::future_status::ready) {
      throw std::runtime_error("relay did not end");
    }
    return ended_future_.get();
  }

  asio::io_context context_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{context_.get_executor()};
  std::optional<ByteStream> client_stream_;
  TestSocket client_;
  std::optional<BackendLink> blue_link_;
  TestSocket blue_;
  SessionRecord record_{SessionIdentity{.id = 7, .database = "app", .user = "alice"}, "", "blue"};
  CancelKeyMap cancel_keys_;
  DatabaseGate gate_{"app"};
  ProxyEvents events_;
  // What the relay keeps alive; held here until StartRelay.
  std::shared_ptr<void> owner_ = std::make_shared<int>(0);
  std::weak_ptr<void> owner_watch_ = owner_;
  // Read on the relay's thread.
  int startups_completed_ = 0;
  int ends_reported_ = 0;
  std::promise<RelayEnd> ended_;
  std::shared_future<RelayEnd> ended_future_ = ended_.get_future().share();
  std::optional<Relay> relay_;
  std::thread thread_;
  bool started_ = false;
};

}  // namespace pgvalve::proxy::direct_relay
