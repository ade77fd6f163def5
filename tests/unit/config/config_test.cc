#include "config/config.h"

#include <gtest/gtest.h>

namespace pgvalve::config {
namespace {

TEST(ListenAddressTest, ToStringBracketsIpv6Only) {
  EXPECT_EQ((ListenAddress{"127.0.0.1", 6432}).ToString(), "127.0.0.1:6432");
  EXPECT_EQ((ListenAddress{"db.example", 5432}).ToString(), "db.example:5432");
  EXPECT_EQ((ListenAddress{"::1", 6432}).ToString(), "[::1]:6432");
}

UpstreamConfig Upstream(std::string name) {
  UpstreamConfig upstream;
  upstream.name = std::move(name);
  return upstream;
}

Config TwoUpstreams() {
  Config config;
  config.upstreams["blue"] = Upstream("blue");
  config.upstreams["green"] = Upstream("green");
  config.databases["app"] = DatabaseRoute{"app", "green"};
  return config;
}

TEST(UpstreamForTest, OwnEntryWins) {
  Config config = TwoUpstreams();
  config.databases["*"] = DatabaseRoute{"*", "blue"};
  const UpstreamConfig* upstream = config.UpstreamFor("app");
  ASSERT_NE(upstream, nullptr);
  EXPECT_EQ(upstream->name, "green");
}

TEST(UpstreamForTest, FallsBackToStar) {
  Config config = TwoUpstreams();
  config.databases["*"] = DatabaseRoute{"*", "blue"};
  const UpstreamConfig* upstream = config.UpstreamFor("reports");
  ASSERT_NE(upstream, nullptr);
  EXPECT_EQ(upstream->name, "blue");
}

TEST(UpstreamForTest, NullWithoutRoute) {
  const Config config = TwoUpstreams();
  EXPECT_EQ(config.UpstreamFor("reports"), nullptr);
  EXPECT_EQ(Config{}.UpstreamFor("app"), nullptr);
}

}  // namespace
}  // namespace pgvalve::config
