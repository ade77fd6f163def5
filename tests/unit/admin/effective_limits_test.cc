// Which value of a limit holds for a database, and what SHOW LIMITS lists.

#include "admin/limits/effective_limits.h"

#include <gtest/gtest.h>

namespace pgvalve::admin {
namespace {

using config::Limit;
using std::chrono::milliseconds;

class EffectiveLimitsTest : public ::testing::Test {
 protected:
  EffectiveLimitsTest() {
    for (const char* name : {"*", "app"}) {
      config_.databases[name] = config::DatabaseRoute{.name = name, .upstream = "blue"};
    }
  }
  void ConfigLimit(const std::string& database, Limit limit, int64_t ms,
                   std::vector<std::string> except = {}) {
    config_.databases[database].limits.Set(limit, {milliseconds(ms), std::move(except)});
  }

  config::Config config_;
  RuntimeLimits runtime_;
};

TEST_F(EffectiveLimitsTest, RuntimeBeforeConfigAndTheDatabaseBeforeStar) {
  ConfigLimit("*", Limit::kQueryTimeout, 4);
  LimitResolver only_config_star(config_, runtime_);
  EXPECT_EQ(only_config_star.For("app").Get(Limit::kQueryTimeout)->value(), milliseconds(4));

  runtime_.Set("*", Limit::kQueryTimeout, {milliseconds(3)});
  ConfigLimit("app", Limit::kQueryTimeout, 2);
  runtime_.Set("app", Limit::kQueryTimeout, {milliseconds(1), {"bob"}});

  auto resolve = [this](std::string_view database) {
    LimitResolver resolver(config_, runtime_);
    const auto& limit = resolver.For(database).Get(Limit::kQueryTimeout);
    EXPECT_TRUE(limit.has_value());
    return std::make_tuple(limit->value().count(), std::string(limit->set_on),
                           std::string(LimitSourceName(limit->source)), limit->Exempts("bob"));
  };
  EXPECT_EQ(resolve("app"), std::make_tuple(1, "app", "runtime", true));
  EXPECT_EQ(resolve("reports"), std::make_tuple(3, "*", "runtime", false));
  runtime_.Reset("app", Limit::kQueryTimeout);
  EXPECT_EQ(resolve("app"), std::make_tuple(2, "app", "config", false))
      << "the database's own value takes no exceptions from elsewhere";
  runtime_.Reset("*", Limit::kQueryTimeout);
  EXPECT_EQ(resolve("reports"), std::make_tuple(4, "*", "config", false));
}

TEST_F(EffectiveLimitsTest, EachLimitIsLookedUpOnItsOwn) {
  ConfigLimit("*", Limit::kClientIdleTimeout, 10);
  runtime_.Set("app", Limit::kQueryTimeout, {milliseconds(20)});
  LimitResolver resolver(config_, runtime_);
  const DatabaseLimits& app = resolver.For("app");
  EXPECT_EQ(app.Get(Limit::kQueryTimeout)->set_on, "app");
  EXPECT_EQ(app.Get(Limit::kClientIdleTimeout)->set_on, "*");
  EXPECT_FALSE(app.Get(Limit::kIdleInTransactionTimeout).has_value());
  EXPECT_EQ(app.query_timeout_grace(), config::kDefaultQueryTimeoutGrace);
}

TEST_F(EffectiveLimitsTest, ListingShowsEachSettingOnceWithItsSource) {
  ConfigLimit("*", Limit::kQueryTimeout, 600'000, {"replicator"});
  ConfigLimit("app", Limit::kClientIdleTimeout, 60'000);
  runtime_.Set("app", Limit::kClientIdleTimeout, {milliseconds(1000)});
  runtime_.Set("zeta", Limit::kQueryTimeoutGrace, {milliseconds(2000)});
  const std::vector<LimitEntry> entries = ListLimits(config_, runtime_);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].database, "*");
  EXPECT_EQ(entries[0].limit, Limit::kQueryTimeout);
  EXPECT_EQ(entries[0].setting.except_users, std::vector<std::string>{"replicator"});
  EXPECT_EQ(entries[0].source, LimitSource::kConfig);
  EXPECT_EQ(entries[1].database, "app");
  EXPECT_EQ(entries[1].setting.value, milliseconds(1000)) << "SET wins over the file";
  EXPECT_EQ(entries[1].source, LimitSource::kRuntime);
  EXPECT_EQ(entries[2].database, "zeta");
  EXPECT_EQ(entries[2].limit, Limit::kQueryTimeoutGrace);
}

TEST(RuntimeLimitsTest, ResetDropsValuesAndEmptyDatabases) {
  RuntimeLimits limits;
  limits.Set("app", Limit::kQueryTimeout, {milliseconds(1)});
  limits.Set("app", Limit::kClientIdleTimeout, {milliseconds(2)});
  EXPECT_FALSE(limits.Reset("app", Limit::kIdleInTransactionTimeout));
  EXPECT_TRUE(limits.Reset("app", Limit::kQueryTimeout));
  EXPECT_NE(limits.Find("app"), nullptr);
  EXPECT_EQ(limits.ResetAll("app"), 1u);
  EXPECT_EQ(limits.Find("app"), nullptr);
  EXPECT_TRUE(limits.empty());
  EXPECT_EQ(limits.ResetAll("app"), 0u);
}

}  // namespace
}  // namespace pgvalve::admin
