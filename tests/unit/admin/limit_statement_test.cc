// SET db.limit and RESET db.limit as the admin console reads them, and the
// errors for what it cannot read: 42601 saying what was expected, 42704
// for a limit that does not exist, 22023 for a value out of range.

#include "admin/limits/limit_statement.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "admin/commands/command_tokenizer.h"
#include "tests/unit/admin/status_matchers.h"

namespace pgvalve::admin {
namespace {

using config::Limit;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using testutil::HasSqlState;

absl::StatusOr<SetLimitStatement> Set(std::string_view arguments) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(arguments);
  if (!tokens.ok()) return tokens.status();
  ArgumentCursor cursor(*tokens);
  return ParseSetLimit(cursor);
}

absl::StatusOr<ResetLimitStatement> Reset(std::string_view arguments) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(arguments);
  if (!tokens.ok()) return tokens.status();
  ArgumentCursor cursor(*tokens);
  return ParseResetLimit(cursor);
}

std::string MessageOf(const absl::Status& status) { return std::string(status.message()); }

TEST(SetLimitStatement, ReadsTargetValueExceptionsAndForce) {
  absl::StatusOr<SetLimitStatement> set =
      Set("App.Query_Timeout = '10min' EXCEPT USER replicator, \"Backup\" FORCE");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->database, "app") << "names fold as PostgreSQL folds them";
  EXPECT_EQ(set->limit, Limit::kQueryTimeout);
  EXPECT_EQ(set->setting.value, milliseconds(600'000));
  EXPECT_EQ(set->setting.except_users, (std::vector<std::string>{"replicator", "Backup"}));
  EXPECT_TRUE(set->force);
}

TEST(SetLimitStatement, QuotedDatabasesStarToAndZero) {
  absl::StatusOr<SetLimitStatement> quoted = Set("\"My DB\".client_idle_timeout TO 30s");
  ASSERT_TRUE(quoted.ok()) << quoted.status();
  EXPECT_EQ(quoted->database, "My DB");
  EXPECT_EQ(quoted->limit, Limit::kClientIdleTimeout);
  EXPECT_EQ(quoted->setting.value, milliseconds(30'000));
  EXPECT_FALSE(quoted->force);

  absl::StatusOr<SetLimitStatement> star = Set("\"*\".idle_in_transaction_timeout = 0");
  ASSERT_TRUE(star.ok()) << star.status();
  EXPECT_EQ(star->database, "*");
  EXPECT_EQ(star->setting.value, milliseconds(0));
  ASSERT_TRUE(Set("app.query_timeout = '0'").ok());
  EXPECT_EQ(Set("app.query_timeout_grace = '1.5 s'")->setting.value, milliseconds(1500));
}

TEST(SetLimitStatement, SyntaxErrorsSayWhatWasExpected) {
  const struct {
    std::string_view arguments;
    std::string_view expected;
  } cases[] = {
      {"", "expected db.limit, such as app.query_timeout or \"*\".query_timeout at end of command"},
      {"app = '1s'", "expected db.limit, such as app.query_timeout"},
      {"\"app\" = '1s'", "expected db.limit"},
      {"app.query_timeout '1s'", "expected = or TO, found \"1s\""},
      {"app.query_timeout =", "expected a duration such as '10min', or 0 to turn the limit off at end"},
      {"app.query_timeout = 10", "without a unit"},
      {"app.query_timeout = '1s' EXCEPT alice", "expected USER, found \"alice\""},
      {"app.query_timeout = '1s' EXCEPT USER", "expected a user name at end of command"},
      {"app.query_timeout = '1s' EXCEPT USER a,", "expected a user name at end of command"},
      {"app.query_timeout = '1s' FORCE now", "unexpected \"now\" at the end of the command"},
      {"app.query_timeout_grace = '1s' EXCEPT USER a", "query_timeout_grace takes no EXCEPT USER"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<SetLimitStatement> set = Set(c.arguments);
    EXPECT_THAT(set, HasSqlState("42601")) << c.arguments;
    EXPECT_THAT(MessageOf(set.status()), HasSubstr(c.expected)) << c.arguments;
  }
}

TEST(SetLimitStatement, AnUnknownLimitNamesTheKnownOnes) {
  absl::StatusOr<SetLimitStatement> set = Set("app.statement_timeout = '1s'");
  EXPECT_THAT(set, HasSqlState("42704"));
  EXPECT_EQ(MessageOf(set.status()), "unrecognized limit \"statement_timeout\"");
  EXPECT_THAT(protocol::DetailOf(set.status()),
              HasSubstr("query_timeout, query_timeout_grace, idle_in_transaction_timeout, "
                        "client_idle_timeout"));
  EXPECT_THAT(Set("app.all = '1s'"), HasSqlState("42704")) << "ALL is for RESET";
}

TEST(SetLimitStatement, ValuesOutOfRange) {
  EXPECT_THAT(Set("app.query_timeout = '-1s'"), HasSqlState("22023"));
  EXPECT_THAT(Set("app.query_timeout = 'soon'"), HasSqlState("22023"));
  absl::StatusOr<SetLimitStatement> too_long = Set("app.client_idle_timeout = '25h'");
  EXPECT_THAT(too_long, HasSqlState("22023"));
  EXPECT_EQ(MessageOf(too_long.status()), "client_idle_timeout must be at most 24h, got 25h");
  absl::StatusOr<SetLimitStatement> no_grace = Set("app.query_timeout_grace = 0");
  EXPECT_THAT(no_grace, HasSqlState("22023"));
  EXPECT_THAT(MessageOf(no_grace.status()), HasSubstr("must be positive"));
}

TEST(ResetLimitStatement, OneLimitOrAll) {
  absl::StatusOr<ResetLimitStatement> one = Reset("app.query_timeout");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->database, "app");
  EXPECT_EQ(one->limit, Limit::kQueryTimeout);
  absl::StatusOr<ResetLimitStatement> all = Reset("\"*\".ALL");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->database, "*");
  EXPECT_FALSE(all->limit.has_value());

  EXPECT_THAT(Reset(""), HasSqlState("42601"));
  EXPECT_THAT(Reset("app"), HasSqlState("42601"));
  absl::StatusOr<ResetLimitStatement> extra = Reset("app.query_timeout = '1s'");
  EXPECT_THAT(extra, HasSqlState("42601"));
  EXPECT_THAT(MessageOf(extra.status()), HasSubstr("unexpected \"=\""));
  EXPECT_THAT(Reset("app.nothing"), HasSqlState("42704"));
}

}  // namespace
}  // namespace pgvalve::admin
