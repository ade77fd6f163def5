// Who holds a relaying session. Its pumps wait in reactor receives that
// hold nothing, so between events the session is owned by its io_context's
// SessionKeeper alone: the startup deadline's timer holds it only until the
// first ReadyForQuery, and a request from outside (a close) is acted on
// through a posted wake-up rather than a timer kept armed for it.

#include <chrono>

#include "gtest/gtest.h"
#include "proxy/session_keeper.h"
#include "tests/unit/proxy/direct_relay.h"

namespace pgvalve::proxy {
namespace {

using namespace testutil;
using namespace direct_relay;

class RelayLifetimeTest : public DirectRelayTest {
 protected:
  size_t KeptSessions() {
    return OnRelayThread([this] { return SessionKeeper::Of(context_.get_executor()).size(); });
  }

  // How many hold the relay's owner, read on the relay's thread, once it
  // settles on `expected` (or the last count seen after a bounded wait):
  // a handler cancelled before the test looked may still be queued.
  long OwnersOnceSettled(long expected) {
    const auto deadline = std::chrono::steady_clock::now() + kIoTimeout;
    long owners = 0;
    do {
      owners = OnRelayThread([this] { return owner_watch_.use_count(); });
    } while (owners != expected && std::chrono::steady_clock::now() < deadline);
    return owners;
  }
};

TEST_F(RelayLifetimeTest, DuringStartupTheKeeperAndTheDeadlineTimerHoldTheSession) {
  StartRelay();
  EXPECT_EQ(KeptSessions(), 1u);
  EXPECT_EQ(OwnersOnceSettled(2), 2);
  EXPECT_EQ(OnRelayThread([this] { return startups_completed_; }), 0);
}

TEST_F(RelayLifetimeTest, AnIdleSessionIsHeldByItsKeeperAlone) {
  StartRelay();
  StartSession();
  RoundTrip(blue_, "select 1");
  // No timer, no pending handler: only the keeper.
  EXPECT_EQ(OwnersOnceSettled(1), 1);
  EXPECT_EQ(KeptSessions(), 1u);
  // Told once, at the first ReadyForQuery only.
  EXPECT_EQ(OnRelayThread([this] { return startups_completed_; }), 1);
}

TEST_F(RelayLifetimeTest, TheKeeperLetsGoOnceTheRelayHasEnded) {
  StartRelay();
  StartSession();
  ASSERT_TRUE(client_.Send(TerminateMessage()));
  EXPECT_EQ(WaitForEnd().reason, RelayEndReason::kClientTerminated);
  EXPECT_EQ(KeptSessions(), 0u);
  EXPECT_EQ(OwnersOnceSettled(0), 0);
}

// The relay decides the end; telling the client and the server is its
// owner's part (ClientSession::EndRelay).
TEST_F(RelayLifetimeTest, ACloseRequestedAfterStartupIsActedOnWithoutATimer) {
  StartRelay();
  StartSession();
  RoundTrip(blue_, "select 1");
  ASSERT_EQ(OwnersOnceSettled(1), 1);
  OnRelayThread([this] { relay_->RequestClose(CloseWhen::kNow, "57P01", "closed by the test"); });
  RelayEnd end = WaitForEnd();
  EXPECT_EQ(end.reason, RelayEndReason::kCloseRequested);
  EXPECT_EQ(end.sqlstate, "57P01");
  EXPECT_EQ(end.detail, "closed by the test");
  EXPECT_EQ(KeptSessions(), 0u);
}

// An operator's close can cross the session's own end.
TEST_F(RelayLifetimeTest, ACloseRequestedAfterTheEndChangesNothing) {
  StartRelay();
  StartSession();
  ASSERT_TRUE(client_.Send(TerminateMessage()));
  EXPECT_EQ(WaitForEnd().reason, RelayEndReason::kClientTerminated);
  OnRelayThread([this] { relay_->RequestClose(CloseWhen::kNow, "57P01", "too late"); });
  // Runs after anything the request posted.
  EXPECT_EQ(OnRelayThread([this] { return ends_reported_; }), 1);
  EXPECT_EQ(KeptSessions(), 0u);
}

TEST_F(RelayLifetimeTest, TheStartupDeadlineStillEndsASilentServer) {
  StartRelay(std::chrono::milliseconds(50));
  RelayEnd end = WaitForEnd();
  EXPECT_EQ(end.reason, RelayEndReason::kStartupTimeout);
  EXPECT_EQ(end.sqlstate, "08006");
  EXPECT_EQ(KeptSessions(), 0u);
}

}  // namespace
}  // namespace pgvalve::proxy
