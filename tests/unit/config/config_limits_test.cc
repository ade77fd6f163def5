// Per-database limits in the config file: what is read, and what is
// refused with a message naming the key.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config_file.h"

namespace pgvalve::config {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kUpstream = "[upstreams.blue]\nport = 5432\n";

absl::StatusOr<Config> Parse(std::string_view databases) {
  return ParseConfigText(std::string(kUpstream) + std::string(databases), "pgvalve.toml");
}

std::string ErrorOf(std::string_view databases) {
  const absl::StatusOr<Config> config = Parse(databases);
  if (config.ok()) return "<accepted>";
  return std::string(config.status().message());
}

TEST(ConfigLimitsTest, ReadsEveryLimitAndItsExceptions) {
  const absl::StatusOr<Config> config = Parse(R"toml(
[databases."*"]
upstream = "blue"
query_timeout = "10min"
query_timeout_except_users = ["replicator", "Backup Role"]
query_timeout_grace = "2s"
[databases.app]
upstream = "blue"
idle_in_transaction_timeout = 30000
idle_in_transaction_timeout_except_users = []
client_idle_timeout = "1h"
query_timeout = "0s"
)toml");
  ASSERT_TRUE(config.ok()) << config.status();
  const LimitSettings& all = config->databases.at("*").limits;
  ASSERT_TRUE(all.Get(Limit::kQueryTimeout).has_value());
  EXPECT_EQ(all.Get(Limit::kQueryTimeout)->value, milliseconds(600'000));
  EXPECT_EQ(all.Get(Limit::kQueryTimeout)->except_users,
            (std::vector<std::string>{"replicator", "Backup Role"}));
  EXPECT_EQ(all.Get(Limit::kQueryTimeoutGrace)->value, milliseconds(2000));
  EXPECT_FALSE(all.Get(Limit::kClientIdleTimeout).has_value());

  const LimitSettings& app = config->databases.at("app").limits;
  EXPECT_EQ(app.Get(Limit::kIdleInTransactionTimeout)->value, milliseconds(30'000));
  EXPECT_TRUE(app.Get(Limit::kIdleInTransactionTimeout)->except_users.empty());
  EXPECT_EQ(app.Get(Limit::kClientIdleTimeout)->value, milliseconds(3'600'000));
  // Zero is set, and off: it keeps the "*" value away from this database.
  ASSERT_TRUE(app.Get(Limit::kQueryTimeout).has_value());
  EXPECT_EQ(app.Get(Limit::kQueryTimeout)->value, milliseconds(0));
  EXPECT_FALSE(app.Get(Limit::kQueryTimeoutGrace).has_value());
}

TEST(ConfigLimitsTest, NoLimitsByDefault) {
  const absl::StatusOr<Config> config = Parse("[databases.\"*\"]\nupstream = \"blue\"\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->databases.at("*").limits.empty());
}

TEST(ConfigLimitsTest, NegativeAndGarbageDurationsAreRefused) {
  EXPECT_EQ(ErrorOf("[databases.app]\nupstream = \"blue\"\nquery_timeout = -5\n"),
            "pgvalve.toml: databases.app.query_timeout: must not be negative (0 turns it off), "
            "got -5ms");
  EXPECT_EQ(ErrorOf("[databases.app]\nupstream = \"blue\"\nquery_timeout = \"-5s\"\n"),
            "pgvalve.toml: databases.app.query_timeout: must be a duration such as \"250ms\", "
            "\"5s\", \"2m\" or \"1h\", got \"-5s\"");
  EXPECT_EQ(ErrorOf("[databases.app]\nupstream = \"blue\"\nclient_idle_timeout = \"soon\"\n"),
            "pgvalve.toml: databases.app.client_idle_timeout: must be a duration such as "
            "\"250ms\", \"5s\", \"2m\" or \"1h\", got \"soon\"");
  EXPECT_EQ(ErrorOf("[databases.app]\nupstream = \"blue\"\nidle_in_transaction_timeout = true\n"),
            "pgvalve.toml: databases.app.idle_in_transaction_timeout: must be a duration such "
            "as \"5s\" or an integer of milliseconds, got boolean");
  EXPECT_EQ(ErrorOf("[databases.\"*\"]\nupstream = \"blue\"\nclient_idle_timeout = \"25h\"\n"),
            "pgvalve.toml: databases.\"*\".client_idle_timeout: must be at most 24h, got 25h");
}

TEST(ConfigLimitsTest, GraceMustBePositive) {
  EXPECT_EQ(ErrorOf("[databases.app]\nupstream = \"blue\"\nquery_timeout_grace = \"0s\"\n"),
            "pgvalve.toml: databases.app.query_timeout_grace: must be positive, got 0ms");
}

TEST(ConfigLimitsTest, ExceptionListsBelongToTheirLimit) {
  EXPECT_EQ(ErrorOf("[databases.app]\nupstream = \"blue\"\n"
                    "client_idle_timeout_except_users = [\"x\"]\n"),
            "pgvalve.toml: databases.app.client_idle_timeout_except_users: set without "
            "client_idle_timeout in the same table; an exception list goes with its limit");
  EXPECT_EQ(ErrorOf("[databases.app]\nupstream = \"blue\"\nquery_timeout = \"1s\"\n"
                    "query_timeout_except_users = \"replicator\"\n"),
            "pgvalve.toml: databases.app.query_timeout_except_users: must be an array of "
            "strings, got string");
  EXPECT_EQ(ErrorOf("[databases.app]\nupstream = \"blue\"\nquery_timeout = \"1s\"\n"
                    "query_timeout_except_users = [\"a\", 5]\n"),
            "pgvalve.toml: databases.app.query_timeout_except_users[1]: must be a string, got "
            "integer");
  EXPECT_EQ(ErrorOf("[databases.app]\nupstream = \"blue\"\nquery_timeout = \"1s\"\n"
                    "query_timeout_except_users = [\"\"]\n"),
            "pgvalve.toml: databases.app.query_timeout_except_users[0]: must not be empty");
  EXPECT_THAT(ErrorOf("[databases.app]\nupstream = \"blue\"\n"
                      "query_timeout_grace_except_users = [\"a\"]\n"),
              ::testing::HasSubstr("unknown key"));
}

}  // namespace
}  // namespace pgvalve::config
