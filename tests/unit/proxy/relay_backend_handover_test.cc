// The seam pooling will use, on a Relay built directly over socketpairs:
// the relay hands its backend back at a transaction boundary, the client's
// next request waits, and another backend attached takes it; cancels and
// the session record follow the backend. No ProxyServer: what is under
// test is the relay's contract with whoever owns the backends.

#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "gtest/gtest.h"
#include "tests/unit/proxy/direct_relay.h"

namespace pgvalve::proxy {
namespace {

using namespace testutil;
using namespace direct_relay;

const Bytes kGreenSecret = {std::byte{0x0a}, std::byte{0x0b}, std::byte{0x0c}, std::byte{0x0d}};
constexpr int32_t kGreenPid = 5151;

BackendKey KeyOf(const std::string& upstream, int32_t pid, const Bytes& secret) {
  return BackendKey{upstream, std::make_shared<const UpstreamEndpoint>(unix_socket::endpoint("/" + upstream)), pid,
                    CancelSecret(secret.begin(), secret.end())};
}

struct Released {
  BackendLink* link = nullptr;
  std::optional<BackendKey> key;
};

// The relay of DirectRelayTest with a second fake server, "green", to
// hand over to.
class RelayHandoverTest : public DirectRelayTest {
 protected:
  RelayHandoverTest() {
    auto [green_side, green_test] = MakeWire(context_);
    green_link_.emplace("green", UpstreamConnection{std::move(green_side), unix_socket::endpoint("/green")});
    green_ = std::move(green_test);
    StartRelay();
  }
  ~RelayHandoverTest() override { Shutdown(); }

  // Asks for the release; the future is ready once the relay let go.
  std::future<Released> AskForRelease() {
    auto released = std::make_shared<std::promise<Released>>();
    std::future<Released> future = released->get_future();
    const bool accepted = OnRelayThread([this, released] {
      return relay_->ReleaseBackendWhenIdle([released](BackendLink& link, std::optional<BackendKey> key) {
        released->set_value(Released{&link, std::move(key)});
      });
    });
    EXPECT_TRUE(accepted);
    return future;
  }

  std::optional<BackendLink> green_link_;
  TestSocket green_;
};

TEST_F(RelayHandoverTest, AnIdleBackendIsHandedOverAndTheNextRequestGoesToTheOneAttached) {
  const KeyData client_key = StartSession();
  RoundTrip(blue_, "select 1");

  // Idle with its receive pending: the relay lets go at once.
  std::future<Released> released = AskForRelease();
  ASSERT_EQ(released.wait_for(kIoTimeout), std::future_status::ready);
  Released handed = released.get();
  EXPECT_EQ(handed.link, &*blue_link_);
  ASSERT_TRUE(handed.key.has_value());
  EXPECT_EQ(handed.key->pid, kBluePid);
  EXPECT_EQ(handed.key->secret, CancelSecret(kBlueSecret.begin(), kBlueSecret.end()));
  EXPECT_EQ(OnRelayThread([this] { return relay_->backend(); }), nullptr);
  // Nothing to cancel without a backend; the record shows none.
  EXPECT_FALSE(cancel_keys_.Find(client_key.pid, client_key.secret).has_value());
  EXPECT_EQ(record_.backend_pid(), 0);
  EXPECT_EQ(record_.virtual_pid(), client_key.pid);

  // The next request waits for a backend, and goes to the one attached.
  ASSERT_TRUE(client_.Send(QueryMessage("select 2")));
  EXPECT_TRUE(OnRelayThread([this] { return relay_->AttachBackend(*green_link_, KeyOf("green", kGreenPid, kGreenSecret)); }));
  ReceivedMessage query = green_.ReadMessage();
  ASSERT_TRUE(query.ok());
  EXPECT_EQ(QueryText(query.message), "select 2");
  ASSERT_TRUE(green_.Send(Concat({CommandCompleteMessage("SELECT 1"), ReadyForQueryMessage('I')})));
  EXPECT_EQ(ReadUntil(client_, 'Z').Tags(), "CZ");
  // The blue server got nothing after the handover.
  EXPECT_EQ(blue_.ReadMessage(Millis(0)).status, ReadStatus::kTimedOut);

  // The client's key, unchanged, now cancels on green; the record follows.
  std::optional<CancelTarget> target = cancel_keys_.Find(client_key.pid, client_key.secret);
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->backend->upstream_name, "green");
  EXPECT_EQ(target->backend->pid, kGreenPid);
  EXPECT_EQ(target->backend->secret, CancelSecret(kGreenSecret.begin(), kGreenSecret.end()));
  EXPECT_EQ(cancel_keys_.VirtualPidOf("green", kGreenPid), client_key.pid);
  EXPECT_FALSE(cancel_keys_.VirtualPidOf("blue", kBluePid).has_value());
  EXPECT_EQ(record_.backend_pid(), kGreenPid);
  EXPECT_EQ(record_.upstream(), "green");

  // Later requests stay on green; the Terminate goes there too.
  RoundTrip(green_, "select 3");
  ASSERT_TRUE(client_.Send(TerminateMessage()));
  ReceivedMessage terminate = green_.ReadMessage();
  ASSERT_TRUE(terminate.ok());
  EXPECT_EQ(terminate.message.tag, 'X');
  EXPECT_EQ(WaitForEnd().reason, RelayEndReason::kClientTerminated);
  EXPECT_EQ(OnRelayThread([this] { return relay_->backend(); }), &*green_link_);
}

TEST_F(RelayHandoverTest, ABackendInsideATransactionIsHandedOverOnlyAtItsEnd) {
  StartSession();
  RoundTrip(blue_, "begin", 'T');
  std::future<Released> released = AskForRelease();
  // Still inside the transaction: the next statement reaches blue.
  RoundTrip(blue_, "insert", 'T');
  // COMMIT's ReadyForQuery 'I' is the boundary.
  RoundTrip(blue_, "commit", 'I');
  ASSERT_EQ(released.wait_for(kIoTimeout), std::future_status::ready);
  EXPECT_EQ(released.get().link, &*blue_link_);

  ASSERT_TRUE(client_.Send(QueryMessage("select 4")));
  EXPECT_TRUE(OnRelayThread([this] { return relay_->AttachBackend(*green_link_, KeyOf("green", kGreenPid, kGreenSecret)); }));
  ReceivedMessage query = green_.ReadMessage();
  ASSERT_TRUE(query.ok());
  EXPECT_EQ(QueryText(query.message), "select 4");
}

TEST_F(RelayHandoverTest, AnExtendedBatchIsHandedOverOnlyAfterItsSync) {
  StartSession();
  // Parse/Bind without Sync: not a boundary, though the last ReadyForQuery
  // said 'I'.
  ASSERT_TRUE(client_.Send(Concat({ParseMessage("", "select 1"), BindMessage("", "")})));
  ReceivedMessage parse = blue_.ReadMessage();
  ASSERT_TRUE(parse.ok());
  EXPECT_EQ(parse.message.tag, 'P');
  std::future<Released> released = AskForRelease();
  ASSERT_TRUE(client_.Send(Concat({ExecuteMessage(""), SyncMessage()})));
  // Bind, Execute and Sync all reach blue, which answers the batch.
  for (char expected : {'B', 'E', 'S'}) {
    ReceivedMessage message = blue_.ReadMessage();
    ASSERT_TRUE(message.ok());
    EXPECT_EQ(message.message.tag, expected);
  }
  ASSERT_TRUE(blue_.Send(Concat({Encode(Message{'1', {}}), Encode(Message{'2', {}}), CommandCompleteMessage("SELECT 1"),
                                 ReadyForQueryMessage('I')})));
  EXPECT_EQ(ReadUntil(client_, 'Z').Tags(), "12CZ");
  ASSERT_EQ(released.wait_for(kIoTimeout), std::future_status::ready);
}

TEST_F(RelayHandoverTest, AClientThatLeavesWhileWaitingForABackendEndsTheRelay) {
  StartSession();
  std::future<Released> released = AskForRelease();
  ASSERT_EQ(released.wait_for(kIoTimeout), std::future_status::ready);
  ASSERT_TRUE(client_.Send(QueryMessage("select 5")));
  client_.Close();
  EXPECT_EQ(WaitForEnd().reason, RelayEndReason::kClientDisconnected);
  EXPECT_EQ(OnRelayThread([this] { return relay_->backend(); }), nullptr);
}

TEST_F(RelayHandoverTest, ACloseRequestEndsARelayWithoutABackend) {
  StartSession();
  std::future<Released> released = AskForRelease();
  ASSERT_EQ(released.wait_for(kIoTimeout), std::future_status::ready);
  OnRelayThread([this] { relay_->RequestClose(CloseWhen::kTransactionBoundary, "57P01", "closing"); });
  RelayEnd end = WaitForEnd();
  EXPECT_EQ(end.reason, RelayEndReason::kCloseRequested);
  EXPECT_EQ(end.sqlstate, "57P01");
}

TEST_F(RelayHandoverTest, WhatCannotBeDoneWithoutABackendOrTwiceIsRefused) {
  StartSession();
  // Attaching while one is attached is refused.
  EXPECT_FALSE(OnRelayThread([this] { return relay_->AttachBackend(*green_link_, std::nullopt); }));
  std::future<Released> released = AskForRelease();
  ASSERT_EQ(released.wait_for(kIoTimeout), std::future_status::ready);
  // Nothing to release, nothing to probe.
  EXPECT_FALSE(OnRelayThread([this] { return relay_->ReleaseBackendWhenIdle([](BackendLink&, auto) {}); }));
  auto probe = std::make_shared<std::promise<std::string>>();
  std::future<std::string> probe_result = probe->get_future();
  OnRelayThread([this, probe] {
    relay_->StartProbe("select 1", [probe](auto result) {
      probe->set_value(result.ok() ? "ok" : std::string(result.status().message()));
    });
  });
  ASSERT_EQ(probe_result.wait_for(kIoTimeout), std::future_status::ready);
  EXPECT_EQ(probe_result.get(), "session has no backend");
}

}  // namespace
}  // namespace pgvalve::proxy
