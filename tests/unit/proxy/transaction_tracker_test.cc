// TransactionTracker follows a session from message tags alone. Each test
// replays the tag sequence a real client and server exchange (as listed in
// the PostgreSQL protocol's message-flow chapter) and checks the state the
// tracker reports at every point where pgvalve might ask.

#include "proxy/transaction_tracker.h"

#include <initializer_list>

#include "gtest/gtest.h"
#include "tests/unit/proxy/session_state_printer.h"

namespace pgvalve::proxy {
namespace {

using protocol::FrontendTag;
using protocol::TransactionStatus;

void Send(TransactionTracker& tracker, std::initializer_list<FrontendTag> tags) {
  for (FrontendTag tag : tags) tracker.OnClientMessage(tag);
}

// A tracker past startup: the server's first ReadyForQuery has arrived.
TransactionTracker Started() {
  TransactionTracker tracker;
  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  return tracker;
}

TEST(TransactionTrackerTest, StartsInStartingState) {
  TransactionTracker tracker;
  EXPECT_EQ(tracker.State(), SessionState::kStarting);
  EXPECT_FALSE(tracker.ready_seen());
  EXPECT_FALSE(tracker.at_transaction_boundary());
  EXPECT_FALSE(tracker.client_terminated());
}

TEST(TransactionTrackerTest, StartupReadyForQueryMakesTheSessionIdle) {
  TransactionTracker tracker;
  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  EXPECT_TRUE(tracker.ready_seen());
  EXPECT_TRUE(tracker.quiet());
  EXPECT_TRUE(tracker.at_transaction_boundary());
  EXPECT_EQ(tracker.State(), SessionState::kIdle);
}

// PasswordMessage ('p', also SASL responses) belongs to the startup: after
// password authentication the session is idle, at a transaction boundary.
TEST(TransactionTrackerTest, PasswordAuthenticationLeavesTheSessionIdle) {
  TransactionTracker tracker;
  Send(tracker, {FrontendTag::kPassword});  // cleartext/md5 password or SASLInitialResponse
  Send(tracker, {FrontendTag::kPassword});  // SASLResponse
  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  EXPECT_TRUE(tracker.quiet());
  EXPECT_TRUE(tracker.at_transaction_boundary());
  EXPECT_EQ(tracker.State(), SessionState::kIdle);
}

TEST(TransactionTrackerTest, SimpleQueryIsActiveUntilItsReadyForQuery) {
  TransactionTracker tracker = Started();
  Send(tracker, {FrontendTag::kQuery});
  EXPECT_EQ(tracker.State(), SessionState::kActive);
  EXPECT_FALSE(tracker.quiet());
  EXPECT_FALSE(tracker.at_transaction_boundary());

  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  EXPECT_EQ(tracker.State(), SessionState::kIdle);
  EXPECT_TRUE(tracker.at_transaction_boundary());
}

TEST(TransactionTrackerTest, ExtendedBatchIsActiveFromParseUntilTheReadyForQueryAfterSync) {
  TransactionTracker tracker = Started();
  Send(tracker, {FrontendTag::kParse});
  EXPECT_EQ(tracker.State(), SessionState::kActive);
  Send(tracker, {FrontendTag::kBind, FrontendTag::kDescribe, FrontendTag::kExecute});
  EXPECT_EQ(tracker.State(), SessionState::kActive) << "a batch without Sync is unanswered";
  EXPECT_FALSE(tracker.quiet());

  Send(tracker, {FrontendTag::kSync});
  EXPECT_EQ(tracker.State(), SessionState::kActive);
  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  EXPECT_EQ(tracker.State(), SessionState::kIdle);
  EXPECT_TRUE(tracker.at_transaction_boundary());
}

TEST(TransactionTrackerTest, FlushAloneKeepsTheBatchOpen) {
  TransactionTracker tracker = Started();
  Send(tracker, {FrontendTag::kParse, FrontendTag::kFlush});
  EXPECT_EQ(tracker.State(), SessionState::kActive);
  EXPECT_FALSE(tracker.at_transaction_boundary());
}

TEST(TransactionTrackerTest, PipelinedSyncsEachWaitForTheirOwnReadyForQuery) {
  TransactionTracker tracker = Started();
  for (int batch = 0; batch < 3; ++batch) {
    Send(tracker, {FrontendTag::kParse, FrontendTag::kBind, FrontendTag::kExecute,
                   FrontendTag::kSync});
  }
  tracker.OnReadyForQuery(TransactionStatus::kInTransaction);
  EXPECT_EQ(tracker.State(), SessionState::kActive) << "two batches still unanswered";
  tracker.OnReadyForQuery(TransactionStatus::kInTransaction);
  EXPECT_EQ(tracker.State(), SessionState::kActive) << "one batch still unanswered";
  EXPECT_FALSE(tracker.at_transaction_boundary());
  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  EXPECT_EQ(tracker.State(), SessionState::kIdle);
  EXPECT_TRUE(tracker.at_transaction_boundary());
}

TEST(TransactionTrackerTest, PipelinedQueriesCountLikeSyncs) {
  TransactionTracker tracker = Started();
  Send(tracker, {FrontendTag::kQuery, FrontendTag::kQuery});
  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  EXPECT_EQ(tracker.State(), SessionState::kActive);
  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  EXPECT_EQ(tracker.State(), SessionState::kIdle);
}

TEST(TransactionTrackerTest, FunctionCallIsAnsweredByOneReadyForQuery) {
  TransactionTracker tracker = Started();
  Send(tracker, {FrontendTag::kFunctionCall});
  EXPECT_EQ(tracker.State(), SessionState::kActive);
  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  EXPECT_EQ(tracker.State(), SessionState::kIdle);
}

TEST(TransactionTrackerTest, CopyFromStdinInsideAQueryBelongsToThatQuery) {
  TransactionTracker tracker = Started();
  Send(tracker, {FrontendTag::kQuery});  // COPY t FROM STDIN
  // Server: CopyInResponse. Client: the data, then CopyDone.
  Send(tracker, {FrontendTag::kCopyData, FrontendTag::kCopyData, FrontendTag::kCopyData});
  EXPECT_EQ(tracker.State(), SessionState::kActive);
  Send(tracker, {FrontendTag::kCopyDone});
  EXPECT_EQ(tracker.State(), SessionState::kActive);
  // Server: CommandComplete, ReadyForQuery.
  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  EXPECT_EQ(tracker.State(), SessionState::kIdle);
  EXPECT_TRUE(tracker.at_transaction_boundary());
}

TEST(TransactionTrackerTest, CopyFailInsideAQueryEndsWithTheQuery) {
  TransactionTracker tracker = Started();
  Send(tracker, {FrontendTag::kQuery, FrontendTag::kCopyData, FrontendTag::kCopyFail});
  EXPECT_EQ(tracker.State(), SessionState::kActive);
  tracker.OnReadyForQuery(TransactionStatus::kIdle);  // after the ErrorResponse
  EXPECT_EQ(tracker.State(), SessionState::kIdle);
}

// libpq sends an extended-protocol COPY as P/B/D/E/S and, once the data is
// sent, CopyDone followed by a second Sync (PQputCopyEnd). The server
// ignores the Sync that arrived during copy-in mode (copyfromparse.c:
// "Ignore Flush/Sync for the convenience of client libraries"), so only one
// ReadyForQuery comes back, and the session must end idle.
TEST(TransactionTrackerTest, ExtendedCopyFromStdinEndsIdle) {
  TransactionTracker tracker = Started();
  Send(tracker, {FrontendTag::kParse, FrontendTag::kBind, FrontendTag::kDescribe,
                 FrontendTag::kExecute, FrontendTag::kSync});
  // Server: ParseComplete, BindComplete, NoData, CopyInResponse.
  tracker.OnCopyInResponse();
  Send(tracker, {FrontendTag::kCopyData, FrontendTag::kCopyDone, FrontendTag::kSync});
  // Server: CommandComplete, then its only ReadyForQuery.
  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  EXPECT_TRUE(tracker.quiet());
  EXPECT_EQ(tracker.State(), SessionState::kIdle);
}

TEST(TransactionTrackerTest, TransactionBlockStatesFollowReadyForQuery) {
  TransactionTracker tracker = Started();
  Send(tracker, {FrontendTag::kQuery});  // BEGIN
  tracker.OnReadyForQuery(TransactionStatus::kInTransaction);
  EXPECT_EQ(tracker.State(), SessionState::kIdleInTransaction);
  EXPECT_EQ(tracker.transaction_status(), TransactionStatus::kInTransaction);
  EXPECT_TRUE(tracker.quiet());
  EXPECT_FALSE(tracker.at_transaction_boundary()) << "inside a transaction block";

  Send(tracker, {FrontendTag::kQuery});  // a failing statement
  EXPECT_EQ(tracker.State(), SessionState::kActive);
  tracker.OnReadyForQuery(TransactionStatus::kFailed);
  EXPECT_EQ(tracker.State(), SessionState::kIdleInFailedTransaction);
  EXPECT_EQ(tracker.transaction_status(), TransactionStatus::kFailed);
  EXPECT_FALSE(tracker.at_transaction_boundary());

  Send(tracker, {FrontendTag::kQuery});  // ROLLBACK
  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  EXPECT_EQ(tracker.State(), SessionState::kIdle);
  EXPECT_TRUE(tracker.at_transaction_boundary());
}

TEST(TransactionTrackerTest, FailedExtendedBatchStillEndsAtItsSync) {
  TransactionTracker tracker = Started();
  // The server reports an error at Bind and skips to the Sync; one
  // ReadyForQuery answers the whole batch.
  Send(tracker, {FrontendTag::kParse, FrontendTag::kBind, FrontendTag::kExecute,
                 FrontendTag::kSync});
  tracker.OnReadyForQuery(TransactionStatus::kIdle);
  EXPECT_EQ(tracker.State(), SessionState::kIdle);
}

TEST(TransactionTrackerTest, TerminateIsRemembered) {
  TransactionTracker tracker = Started();
  EXPECT_FALSE(tracker.client_terminated());
  Send(tracker, {FrontendTag::kTerminate});
  EXPECT_TRUE(tracker.client_terminated());
  // Terminate expects no answer, so it does not make the session active.
  EXPECT_EQ(tracker.State(), SessionState::kIdle);
}

TEST(TransactionTrackerTest, TerminateDuringStartupIsRemembered) {
  TransactionTracker tracker;
  Send(tracker, {FrontendTag::kTerminate});
  EXPECT_TRUE(tracker.client_terminated());
  EXPECT_EQ(tracker.State(), SessionState::kStarting);
}

}  // namespace
}  // namespace pgvalve::proxy
