// The clocks a session's record keeps for filters and limits: when the
// current query, transaction and state began.

#include "proxy/session_record.h"

#include <gtest/gtest.h>

namespace pgvalve::proxy {
namespace {

SessionRecord NewRecord() { return SessionRecord(SessionIdentity{.id = 1}, "app", "main"); }

TEST(SessionRecordClocks, ActiveStartsTheQueryAndTransactionClocks) {
  SessionRecord record = NewRecord();
  record.SetState(SessionState::kIdle);
  // The record keeps microseconds.
  const auto before = std::chrono::floor<std::chrono::microseconds>(WallClock::now());
  record.SetState(SessionState::kActive);
  const SessionSnapshot active = record.Snapshot();
  EXPECT_GE(active.query_start, before);
  EXPECT_EQ(active.query_start, active.state_since);
  EXPECT_EQ(active.transaction_start, active.query_start);
}

TEST(SessionRecordClocks, NextStatementInATransactionKeepsTheTransactionClock) {
  SessionRecord record = NewRecord();
  record.SetState(SessionState::kIdle);
  record.SetState(SessionState::kActive);  // BEGIN
  const WallClock::time_point begun = record.transaction_start();
  record.SetState(SessionState::kIdleInTransaction);
  record.SetState(SessionState::kActive);  // the next statement
  EXPECT_EQ(record.transaction_start(), begun);
  EXPECT_GE(record.query_start(), begun);
  EXPECT_EQ(record.query_start(), record.Snapshot().state_since);
}

TEST(SessionRecordClocks, PipelinedRequestRestartsOnlyTheQueryClock) {
  SessionRecord record = NewRecord();
  record.SetState(SessionState::kActive);
  const StateStamp stamp = record.state_stamp();
  const WallClock::time_point first = record.query_start();
  record.RestartQueryClock();
  EXPECT_GE(record.query_start(), first);
  // Still the same stretch of activity.
  EXPECT_EQ(record.state_stamp(), stamp);
}

TEST(SessionRecordClocks, StampNamesOneStretchOfAState) {
  SessionRecord record = NewRecord();
  record.SetState(SessionState::kIdleInTransaction);
  const StateStamp idle_in_transaction = record.state_stamp();
  EXPECT_EQ(idle_in_transaction.state, SessionState::kIdleInTransaction);
  record.SetState(SessionState::kActive);
  EXPECT_NE(record.state_stamp(), idle_in_transaction);
  // Setting the same state again is no transition.
  const StateStamp active = record.state_stamp();
  record.SetState(SessionState::kActive);
  EXPECT_EQ(record.state_stamp(), active);
}

}  // namespace
}  // namespace pgvalve::proxy
