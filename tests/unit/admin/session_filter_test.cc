// Session filters: their grammar, what they match on pgvalve's own
// sessions, and the pg_stat_activity condition INCLUDING DIRECT runs.

#include "admin/commands/session_filter.h"

#include <gtest/gtest.h>

#include "admin/commands/command_tokenizer.h"
#include "protocol/protocol_error.h"

namespace pgvalve::admin {
namespace {

using namespace std::chrono_literals;
using proxy::SessionSnapshot;
using proxy::SessionState;
using proxy::WallClock;

absl::StatusOr<SessionFilter> Parse(std::string_view text) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(text);
  if (!tokens.ok()) return tokens.status();
  ArgumentCursor arguments(*tokens);
  SessionFilter filter;
  if (absl::Status parsed = ParseSessionFilter(arguments, filter); !parsed.ok()) return parsed;
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) return end;
  return filter;
}

SessionFilter ParseOk(std::string_view text) {
  absl::StatusOr<SessionFilter> filter = Parse(text);
  EXPECT_TRUE(filter.ok()) << text << ": " << filter.status();
  return filter.ok() ? *filter : SessionFilter{};
}

std::string SqlStateOf(std::string_view text) {
  return std::string(protocol::SqlStateOf(Parse(text).status()));
}

const WallClock::time_point kNow = WallClock::time_point(1'000'000s);

SessionSnapshot Session(SessionState state, std::chrono::seconds in_state, std::string user = "app",
                        std::string application = "web", std::string address = "10.1.2.3") {
  SessionSnapshot session;
  session.identity.user = std::move(user);
  session.identity.client_address = std::move(address);
  session.identity.connected_at = kNow - 1h;
  session.application_name = std::move(application);
  session.state = state;
  session.state_since = kNow - in_state;
  session.query_start = kNow - in_state;
  session.transaction_start = kNow - in_state - 10s;
  return session;
}

TEST(SessionFilterGrammar, ReadsEveryClauseInAnyOrder) {
  const SessionFilter filter = ParseOk(
      "EXCEPT USER replicator USER app, \"Report\" STATE active, 'idle in transaction' "
      "RUNNING LONGER THAN '10min' APPLICATION 'batch%' CLIENT '10.0.0.0/8' "
      "IN TRANSACTION LONGER THAN '5min' CONNECTED LONGER THAN '1h' IDLE LONGER THAN '30s'");
  EXPECT_EQ(filter.except_users, (std::vector<std::string>{"replicator"}));
  EXPECT_EQ(filter.users, (std::vector<std::string>{"app", "Report"}));
  EXPECT_EQ(filter.states, (std::vector<SessionState>{SessionState::kActive,
                                                      SessionState::kIdleInTransaction,
                                                      SessionState::kIdleInFailedTransaction}));
  ASSERT_EQ(filter.ages.size(), 4u);
  EXPECT_EQ(filter.ages[0].clock, AgeClock::kRunning);
  EXPECT_EQ(filter.ages[0].longer_than, 10min);
  EXPECT_EQ(filter.application_pattern, "batch%");
  ASSERT_TRUE(filter.client);
  EXPECT_EQ(filter.client->text(), "10.0.0.0/8");
}

TEST(SessionFilterGrammar, StopsAtTheFirstTokenThatBeginsNoClause) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize("STATE idle EXCEPT ROLE admin");
  ASSERT_TRUE(tokens.ok());
  ArgumentCursor arguments(*tokens);
  SessionFilter filter;
  ASSERT_TRUE(ParseSessionFilter(arguments, filter).ok());
  // EXCEPT ROLE is DRAIN's; it is left for the command to read.
  EXPECT_TRUE(arguments.PeekKeyword("EXCEPT"));
  EXPECT_TRUE(arguments.PeekKeyword("ROLE", 1));
}

TEST(SessionFilterGrammar, RefusesMalformedClauses) {
  EXPECT_EQ(SqlStateOf("STATE sleeping"), "22023");
  EXPECT_EQ(SqlStateOf("STATE"), "42601");
  EXPECT_EQ(SqlStateOf("STATE idle STATE active"), "42601");
  EXPECT_EQ(SqlStateOf("RUNNING LONGER '1s'"), "42601");
  EXPECT_EQ(SqlStateOf("RUNNING LONGER THAN"), "42601");
  EXPECT_EQ(SqlStateOf("RUNNING LONGER THAN 'soon'"), "22023");
  EXPECT_EQ(SqlStateOf("IDLE LONGER THAN '1s' IDLE LONGER THAN '2s'"), "42601");
  EXPECT_EQ(SqlStateOf("USER"), "42601");
  EXPECT_EQ(SqlStateOf("USER a USER b"), "42601");
  EXPECT_EQ(SqlStateOf("APPLICATION web"), "42601");
  EXPECT_EQ(SqlStateOf("CLIENT '300.0.0.1'"), "22P02");
  EXPECT_EQ(SqlStateOf("CLIENT '10.0.0.1/8'"), "22P02");
  EXPECT_EQ(SqlStateOf("CLIENT '10.0.0.0/33'"), "22P02");
  EXPECT_EQ(SqlStateOf("EXCEPT USER"), "42601");
  EXPECT_EQ(SqlStateOf("IN TRANSACTION"), "42601");
}

TEST(SessionFilterMatching, EmptyFilterMatchesEverySession) {
  EXPECT_TRUE(Matches(SessionFilter{}, Session(SessionState::kStarting, 0s), kNow));
  EXPECT_TRUE(Matches(SessionFilter{}, Session(SessionState::kHeld, 0s), kNow));
}

TEST(SessionFilterMatching, AgesReadTheClockOfTheirState) {
  const SessionFilter running = ParseOk("RUNNING LONGER THAN '2s'");
  EXPECT_TRUE(Matches(running, Session(SessionState::kActive, 3s), kNow));
  EXPECT_FALSE(Matches(running, Session(SessionState::kActive, 2s), kNow));  // strictly longer
  EXPECT_FALSE(Matches(running, Session(SessionState::kIdleInTransaction, 30s), kNow));

  const SessionFilter idle = ParseOk("IDLE LONGER THAN '2s'");
  EXPECT_TRUE(Matches(idle, Session(SessionState::kIdle, 3s), kNow));
  EXPECT_FALSE(Matches(idle, Session(SessionState::kIdleInTransaction, 30s), kNow));

  // From the transaction's start, not the state's: a session idle in a
  // transaction for 1 s whose transaction began 11 s ago.
  const SessionFilter in_transaction = ParseOk("IN TRANSACTION LONGER THAN '5s'");
  EXPECT_TRUE(Matches(in_transaction, Session(SessionState::kIdleInTransaction, 1s), kNow));
  EXPECT_TRUE(Matches(in_transaction, Session(SessionState::kIdleInFailedTransaction, 1s), kNow));
  EXPECT_TRUE(Matches(in_transaction, Session(SessionState::kActive, 1s), kNow));
  EXPECT_FALSE(Matches(in_transaction, Session(SessionState::kIdle, 60s), kNow));

  EXPECT_TRUE(Matches(ParseOk("CONNECTED LONGER THAN '59min'"), Session(SessionState::kIdle, 0s), kNow));
  EXPECT_FALSE(Matches(ParseOk("CONNECTED LONGER THAN '2h'"), Session(SessionState::kIdle, 0s), kNow));
}

TEST(SessionFilterMatching, ClausesCombineWithAnd) {
  const SessionFilter filter =
      ParseOk("STATE active RUNNING LONGER THAN '10s' USER app APPLICATION 'w%' EXCEPT USER ops");
  EXPECT_TRUE(Matches(filter, Session(SessionState::kActive, 11s), kNow));
  EXPECT_FALSE(Matches(filter, Session(SessionState::kActive, 9s), kNow));
  EXPECT_FALSE(Matches(filter, Session(SessionState::kActive, 11s, "other"), kNow));
  EXPECT_FALSE(Matches(filter, Session(SessionState::kActive, 11s, "app", "batch"), kNow));
  EXPECT_FALSE(Matches(ParseOk("EXCEPT USER app"), Session(SessionState::kActive, 11s), kNow));
}

TEST(SessionFilterMatching, ClientNetworks) {
  EXPECT_TRUE(Matches(ParseOk("CLIENT '10.0.0.0/8'"), Session(SessionState::kIdle, 0s), kNow));
  EXPECT_FALSE(Matches(ParseOk("CLIENT '10.2.0.0/16'"), Session(SessionState::kIdle, 0s), kNow));
  EXPECT_TRUE(Matches(ParseOk("CLIENT '10.1.2.3'"), Session(SessionState::kIdle, 0s), kNow));
  EXPECT_FALSE(Matches(ParseOk("CLIENT 'unix'"), Session(SessionState::kIdle, 0s), kNow));
  const SessionSnapshot on_socket = Session(SessionState::kIdle, 0s, "app", "web", "unix");
  EXPECT_TRUE(Matches(ParseOk("CLIENT 'unix'"), on_socket, kNow));
  EXPECT_FALSE(Matches(ParseOk("CLIENT '0.0.0.0/0'"), on_socket, kNow));
  const SessionSnapshot mapped = Session(SessionState::kIdle, 0s, "app", "web", "::ffff:10.1.2.3");
  EXPECT_TRUE(Matches(ParseOk("CLIENT '10.0.0.0/8'"), mapped, kNow));
  const SessionSnapshot v6 = Session(SessionState::kIdle, 0s, "app", "web", "2001:db8::7");
  EXPECT_TRUE(Matches(ParseOk("CLIENT '2001:db8::/32'"), v6, kNow));
  EXPECT_FALSE(Matches(ParseOk("CLIENT '10.0.0.0/8'"), v6, kNow));
}

TEST(LikeMatching, FollowsPostgresLike) {
  EXPECT_TRUE(LikeMatches("", ""));
  EXPECT_FALSE(LikeMatches("", "a"));
  EXPECT_TRUE(LikeMatches("%", ""));
  EXPECT_TRUE(LikeMatches("batch%", "batch_7"));
  EXPECT_FALSE(LikeMatches("batch%", "web"));
  EXPECT_TRUE(LikeMatches("%job%", "nightly job 3"));
  EXPECT_TRUE(LikeMatches("a%b%c", "aXbYbZc"));
  EXPECT_FALSE(LikeMatches("a%b%c", "aXbYbZ"));
  EXPECT_TRUE(LikeMatches("w_b", "web"));
  EXPECT_FALSE(LikeMatches("w_b", "wb"));
  EXPECT_TRUE(LikeMatches("batch\\_7", "batch_7"));
  EXPECT_FALSE(LikeMatches("batch\\_7", "batchX7"));
  EXPECT_TRUE(LikeMatches("100\\%", "100%"));
  // _ is one character, not one byte.
  EXPECT_TRUE(LikeMatches("caf_", "caf\xc3\xa9"));
  EXPECT_FALSE(LikeMatches("caf__", "caf\xc3\xa9"));
  // Many %s against a long text finish quickly (no exponential backtracking).
  EXPECT_FALSE(LikeMatches("%a%a%a%a%a%a%a%a%a%a%b", std::string(5000, 'a')));
}

TEST(ActivityCondition, CarriesEachClauseAsParameters) {
  const SessionFilter filter = ParseOk(
      "STATE 'idle in transaction' IN TRANSACTION LONGER THAN '5min' USER app APPLICATION 'b%' "
      "CLIENT '10.0.0.0/8' EXCEPT USER \"re\"\"plica\"");
  std::string sql;
  std::vector<std::optional<std::string>> params = {"db"};
  ASSERT_TRUE(AppendActivityCondition(filter, sql, params));
  EXPECT_EQ(sql,
            " AND state IN ('idle in transaction', 'idle in transaction (aborted)')"
            " AND xact_start < now() - $2::interval"
            " AND usename = ANY($3::text[])"
            " AND usename <> ALL($4::text[])"
            " AND application_name LIKE $5"
            " AND client_addr <<= $6::inet");
  EXPECT_EQ(params, (std::vector<std::optional<std::string>>{
                        "db", "300000 milliseconds", "{\"app\"}", "{\"re\\\"plica\"}", "b%",
                        "10.0.0.0/8"}));
}

TEST(ActivityCondition, HeldMatchesNoDirectBackend) {
  std::string sql;
  std::vector<std::optional<std::string>> params;
  EXPECT_FALSE(AppendActivityCondition(ParseOk("STATE held"), sql, params));
  EXPECT_TRUE(AppendActivityCondition(ParseOk("CLIENT 'unix'"), sql, params));
  EXPECT_EQ(sql, " AND client_port = -1");
}

}  // namespace
}  // namespace pgvalve::admin
