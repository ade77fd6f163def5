#include "config/value_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pgvalve::config {
namespace {

using ::testing::HasSubstr;

TEST(ParseDurationTest, AcceptsEveryUnit) {
  EXPECT_EQ(*ParseDuration("250ms"), Duration(250));
  EXPECT_EQ(*ParseDuration("5s"), Duration(5000));
  EXPECT_EQ(*ParseDuration("2m"), Duration(120000));
  EXPECT_EQ(*ParseDuration("2min"), Duration(120000));
  EXPECT_EQ(*ParseDuration("1h"), Duration(3600000));
  EXPECT_EQ(*ParseDuration("0s"), Duration(0));
}

TEST(ParseDurationTest, RejectsOtherSpellings) {
  for (const char* text : {"", "5", "s", "ms", "5 s", "-5s", "+5s", "1.5s",
                           "5sec", "5xs", "5d", "5S", " 5s"}) {
    const absl::StatusOr<Duration> parsed = ParseDuration(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_THAT(std::string(parsed.status().message()),
                HasSubstr("must be a duration"))
        << text;
  }
}

TEST(ParseDurationTest, RejectsOverflow) {
  EXPECT_FALSE(ParseDuration("9223372036854775807h").ok());
  EXPECT_FALSE(ParseDuration("99999999999999999999ms").ok());
}

TEST(FormatDurationTest, PicksLargestExactUnit) {
  EXPECT_EQ(FormatDuration(Duration(0)), "0ms");
  EXPECT_EQ(FormatDuration(Duration(1500)), "1500ms");
  EXPECT_EQ(FormatDuration(Duration(5000)), "5s");
  EXPECT_EQ(FormatDuration(Duration(120000)), "2m");
  EXPECT_EQ(FormatDuration(Duration(86400000)), "24h");
  EXPECT_EQ(FormatDuration(Duration(-5)), "-5ms");
}

TEST(ParseListenAddressTest, AcceptsIpv4Ipv6AndNames) {
  EXPECT_EQ(*ParseListenAddress("127.0.0.1:6432"),
            (ListenAddress{"127.0.0.1", 6432}));
  EXPECT_EQ(*ParseListenAddress("[::1]:6432"), (ListenAddress{"::1", 6432}));
  EXPECT_EQ(*ParseListenAddress("[::]:1"), (ListenAddress{"::", 1}));
  EXPECT_EQ(*ParseListenAddress("localhost:65535"),
            (ListenAddress{"localhost", 65535}));
}

TEST(ParseListenAddressTest, ExplainsRejections) {
  const auto message = [](std::string_view text) {
    return std::string(ParseListenAddress(text).status().message());
  };
  EXPECT_EQ(message("foo"), "expected ADDR:PORT, got \"foo\"");
  EXPECT_EQ(message(":6432"), "expected ADDR:PORT, got \":6432\"");
  EXPECT_EQ(message("host:"), "expected ADDR:PORT, got \"host:\"");
  EXPECT_EQ(message("host:+5"), "expected ADDR:PORT, got \"host:+5\"");
  EXPECT_EQ(message("[::1]6432"), "expected ADDR:PORT, got \"[::1]6432\"");
  EXPECT_THAT(message("host:70000"), HasSubstr("between 1 and 65535"));
  EXPECT_THAT(message("host:0"), HasSubstr("between 1 and 65535"));
  EXPECT_THAT(message("::1:6432"), HasSubstr("need brackets"));
  EXPECT_THAT(message("[1.2.3.4]:5"), HasSubstr("not an IPv6 address"));
  EXPECT_THAT(message("256.1.1.1:5"), HasSubstr("not a valid IPv4"));
  EXPECT_THAT(message("a b:5"), HasSubstr("not a valid host name"));
  EXPECT_THAT(message("/tmp:5"), HasSubstr("unix_socket_dir"));
}

TEST(ParseUpstreamAddressTest, AcceptsSocketDirectory) {
  const absl::StatusOr<HostAndPort> dir =
      ParseUpstreamAddress("/var/run/postgresql:5432");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(dir->host, "/var/run/postgresql");
  EXPECT_EQ(dir->port, 5432);
  const absl::StatusOr<HostAndPort> v6 = ParseUpstreamAddress("[::1]:5433");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(ParseUpstreamAddress("db").status().message(),
            "expected HOST:PORT, got \"db\"");
}

TEST(CheckHostTest, UpstreamHostsMayBeUnbracketedIpv6OrDirectories) {
  EXPECT_TRUE(CheckHost("::1", HostKind::kUpstream).ok());
  EXPECT_TRUE(CheckHost("/tmp", HostKind::kUpstream).ok());
  EXPECT_FALSE(CheckHost("/tmp", HostKind::kListen).ok());
  EXPECT_FALSE(CheckHost("", HostKind::kUpstream).ok());
  EXPECT_FALSE(CheckHost("db host", HostKind::kUpstream).ok());
}

TEST(ValueTextTest, RolesAndLogLevels) {
  EXPECT_EQ(ParseAdminRole("admin"), AdminRole::kAdmin);
  EXPECT_EQ(ParseAdminRole("monitor"), AdminRole::kMonitor);
  EXPECT_EQ(ParseAdminRole("Admin"), std::nullopt);
  EXPECT_EQ(AdminRoleName(AdminRole::kMonitor), "monitor");
  EXPECT_TRUE(IsLogLevel("warn"));
  EXPECT_FALSE(IsLogLevel("warning"));
}

TEST(ParseDecimalTest, DigitsOnly) {
  EXPECT_EQ(ParseDecimal("0"), 0);
  EXPECT_EQ(ParseDecimal("65535"), 65535);
  EXPECT_EQ(ParseDecimal(""), std::nullopt);
  EXPECT_EQ(ParseDecimal("-1"), std::nullopt);
  EXPECT_EQ(ParseDecimal(" 1"), std::nullopt);
  EXPECT_EQ(ParseDecimal("99999999999999999999"), std::nullopt);
}

}  // namespace
}  // namespace pgvalve::config
