// RelayCloseRequests: when a close asked for at a boundary becomes due, and
// which of two requests wins, with the tracker driven by message tags.

#include "proxy/relay_close_requests.h"

#include "gtest/gtest.h"

namespace pgvalve::proxy {
namespace {

using protocol::FrontendTag;
using protocol::TransactionStatus;

RelayEnd Close(std::string message) {
  return RelayEnd{RelayEndReason::kCloseRequested, std::move(message), "57P01"};
}

// A session past startup, idle outside a transaction block.
TransactionTracker Idle() {
  TransactionTracker tracker;
  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  return tracker;
}

TEST(RelayCloseRequestsTest, NowIsDueAtOnceWhateverTheSessionDoes) {
  TransactionTracker busy = Idle();
  busy.OnClientMessage(FrontendTag::kQuery);
  RelayCloseRequests requests;
  EXPECT_TRUE(requests.Request(CloseWhen::kNow, Close("now"), busy));
  ASSERT_NE(requests.due(), nullptr);
  EXPECT_EQ(requests.due()->detail, "now");
}

TEST(RelayCloseRequestsTest, ABoundaryAlreadyReachedMakesTheRequestDue) {
  TransactionTracker tracker = Idle();
  RelayCloseRequests requests;
  EXPECT_TRUE(requests.Request(CloseWhen::kTransactionBoundary, Close("idle"), tracker));
  EXPECT_NE(requests.due(), nullptr);
}

TEST(RelayCloseRequestsTest, ATransactionBoundaryWaitsForTheBlockToEnd) {
  TransactionTracker tracker = Idle();
  tracker.OnClientMessage(FrontendTag::kQuery);  // BEGIN
  RelayCloseRequests requests;
  EXPECT_FALSE(requests.Request(CloseWhen::kTransactionBoundary, Close("later"), tracker));
  EXPECT_EQ(requests.due(), nullptr);

  tracker.OnReadyForQuery(TransactionStatus::kInTransaction);
  EXPECT_FALSE(requests.TakeIfReached(tracker).has_value()) << "inside the block";
  tracker.OnClientMessage(FrontendTag::kQuery);  // COMMIT
  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  std::optional<RelayEnd> close = requests.TakeIfReached(tracker);
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->detail, "later");
  EXPECT_FALSE(requests.TakeIfReached(tracker).has_value()) << "taken once";
}

TEST(RelayCloseRequestsTest, ARequestBoundaryIsReachedInsideATransactionBlock) {
  TransactionTracker tracker = Idle();
  tracker.OnClientMessage(FrontendTag::kQuery);
  RelayCloseRequests requests;
  EXPECT_FALSE(requests.Request(CloseWhen::kRequestBoundary, Close("request"), tracker));
  tracker.OnReadyForQuery(TransactionStatus::kInTransaction);
  EXPECT_TRUE(requests.TakeIfReached(tracker).has_value());
}

TEST(RelayCloseRequestsTest, ARequestBoundaryReplacesAWaitingTransactionBoundaryButNotTheReverse) {
  TransactionTracker tracker = Idle();
  tracker.OnClientMessage(FrontendTag::kQuery);
  RelayCloseRequests requests;
  requests.Request(CloseWhen::kTransactionBoundary, Close("transaction"), tracker);
  requests.Request(CloseWhen::kRequestBoundary, Close("request"), tracker);
  requests.Request(CloseWhen::kTransactionBoundary, Close("transaction again"), tracker);
  tracker.OnReadyForQuery(TransactionStatus::kInTransaction);
  std::optional<RelayEnd> close = requests.TakeIfReached(tracker);
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->detail, "request");
}

TEST(RelayCloseRequestsTest, NothingReplacesARequestAlreadyDueAndWithdrawingKeepsIt) {
  TransactionTracker tracker = Idle();
  RelayCloseRequests requests;
  ASSERT_TRUE(requests.Request(CloseWhen::kNow, Close("first"), tracker));
  EXPECT_FALSE(requests.Request(CloseWhen::kNow, Close("second"), tracker));
  requests.WithdrawWaiting();
  ASSERT_NE(requests.due(), nullptr);
  EXPECT_EQ(requests.due()->detail, "first");
}

TEST(RelayCloseRequestsTest, AWithdrawnWaitingRequestNeverBecomesDue) {
  TransactionTracker tracker = Idle();
  tracker.OnClientMessage(FrontendTag::kQuery);
  RelayCloseRequests requests;
  requests.Request(CloseWhen::kTransactionBoundary, Close("withdrawn"), tracker);
  requests.WithdrawWaiting();
  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  EXPECT_FALSE(requests.TakeIfReached(tracker).has_value());
}

TEST(RelayCloseRequestsTest, BeforeStartupEndsOnlyNowIsReached) {
  TransactionTracker starting;
  EXPECT_TRUE(RelayCloseRequests::Reached(CloseWhen::kNow, starting));
  EXPECT_FALSE(RelayCloseRequests::Reached(CloseWhen::kTransactionBoundary, starting));
  EXPECT_FALSE(RelayCloseRequests::Reached(CloseWhen::kRequestBoundary, starting));
}

}  // namespace
}  // namespace pgvalve::proxy
