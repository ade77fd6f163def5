// The HTTP endpoint's parsing and text helpers: basic credentials and
// the JSON views.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "admin/commands/result_set.h"
#include "admin/console/admin_credentials.h"
#include "admin/http/admin_views.h"
#include "admin/console/scram_authenticator.h"
#include "admin/http/basic_credentials.h"
#include "admin/http/http_authenticator.h"
#include "config/config.h"

namespace pgvalve::admin {
namespace {

TEST(BasicAuthorizationTest, ReadsUserAndPassword) {
  // base64("monitor:s3cr:et")
  std::optional<BasicCredentials> credentials = ParseBasicAuthorization("Basic bW9uaXRvcjpzM2NyOmV0");
  ASSERT_TRUE(credentials.has_value());
  EXPECT_EQ(credentials->user, "monitor");
  EXPECT_EQ(credentials->password, "s3cr:et") << "only the first colon separates";
  EXPECT_TRUE(ParseBasicAuthorization("basic bW9uaXRvcjpzM2NyOmV0").has_value()) << "schemes are case-insensitive";
}

TEST(BasicAuthorizationTest, RefusesWhatIsNotBasicCredentials) {
  EXPECT_FALSE(ParseBasicAuthorization(""));
  EXPECT_FALSE(ParseBasicAuthorization("Bearer abc"));
  EXPECT_FALSE(ParseBasicAuthorization("Basic"));
  EXPECT_FALSE(ParseBasicAuthorization("Basic !!!!"));
  EXPECT_FALSE(ParseBasicAuthorization("Basic bW9uaXRvcg==")) << "no colon";
}

std::string Header(const std::string& user_colon_password) {
  return "Basic " + Base64Encode({reinterpret_cast<const uint8_t*>(user_colon_password.data()),
                                  user_colon_password.size()});
}

std::shared_ptr<const config::Config> ConfigWithUsers(std::string admin_password) {
  config::Config config;
  config.admin.users.push_back({.name = "admin", .password = std::move(admin_password)});
  config.admin.users.push_back(
      {.name = "watcher", .password = MakeScramVerifier("look only"), .role = config::AdminRole::kMonitor});
  return std::make_shared<const config::Config>(std::move(config));
}

TEST(HttpAuthenticatorTest, GivesTheRoleOfAUserWithTheRightPassword) {
  AdminCredentials credentials;
  HttpAuthenticator authenticator(credentials);
  auto config = ConfigWithUsers("plain secret");
  const auto role = [&](const std::string& header) -> std::optional<config::AdminRole> {
    std::optional<AuthenticatedUser> user = authenticator.Authenticate(config, header);
    if (!user) return std::nullopt;
    EXPECT_EQ(user->name, header == Header("admin:plain secret") ? "admin" : "watcher");
    return user->role;
  };
  EXPECT_EQ(role(Header("admin:plain secret")), config::AdminRole::kAdmin);
  EXPECT_EQ(role(Header("watcher:look only")), config::AdminRole::kMonitor)
      << "a password configured as a SCRAM verifier";
  // Again, from what the authenticator remembered.
  EXPECT_EQ(role(Header("watcher:look only")), config::AdminRole::kMonitor);
}

TEST(HttpAuthenticatorTest, RefusesWrongPasswordsAndUnknownUsers) {
  AdminCredentials credentials;
  HttpAuthenticator authenticator(credentials);
  auto config = ConfigWithUsers("plain secret");
  EXPECT_FALSE(authenticator.Authenticate(config, Header("admin:plain secreT")));
  EXPECT_FALSE(authenticator.Authenticate(config, Header("admin:")));
  EXPECT_FALSE(authenticator.Authenticate(config, Header("nobody:plain secret")));
  EXPECT_FALSE(authenticator.Authenticate(config, ""));
}

TEST(HttpAuthenticatorTest, AReloadedPasswordReplacesTheOldOne) {
  AdminCredentials credentials;
  HttpAuthenticator authenticator(credentials);
  auto before = ConfigWithUsers("old");
  ASSERT_TRUE(authenticator.Authenticate(before, Header("admin:old")));
  auto after = ConfigWithUsers("new");
  EXPECT_FALSE(authenticator.Authenticate(after, Header("admin:old")))
      << "a password remembered under the old configuration must not outlive it";
  EXPECT_TRUE(authenticator.Authenticate(after, Header("admin:new")));
}

TEST(AdminViewsTest, EachViewIsAShowCommand) {
  EXPECT_EQ(ViewStatement("/v1/clients"), "SHOW CLIENTS");
  EXPECT_EQ(ViewStatement("/v1/databases"), "SHOW DATABASES");
  EXPECT_EQ(ViewStatement("/v1/upstreams"), "SHOW UPSTREAMS");
  EXPECT_EQ(ViewStatement("/v1/drains"), "SHOW DRAINS");
  EXPECT_EQ(ViewStatement("/v1/cutovers"), "SHOW CUTOVERS");
  EXPECT_FALSE(ViewStatement("/v1/"));
  EXPECT_FALSE(ViewStatement("/v1/clients/"));
}

TEST(AdminViewsTest, RowsBecomeObjectsWithTypedValues) {
  using protocol::ColumnType;
  ResultSet rows({{"database", ColumnType::kText},
                  {"sessions", ColumnType::kInt8},
                  {"paused", ColumnType::kBool},
                  {"avg_ms", ColumnType::kFloat8},
                  {"upstream", ColumnType::kText}});
  rows.AddRow().Text("app \"x\"").Int(3).Bool(true).Double(1.5).Null();
  rows.AddRow().Text("reports").Int(0).Bool(false).Double(0).Text("blue");
  EXPECT_EQ(ResultSetJson(rows),
            "[\n{\"database\":\"app \\\"x\\\"\",\"sessions\":3,\"paused\":true,\"avg_ms\":1.500,"
            "\"upstream\":null},"
            "\n{\"database\":\"reports\",\"sessions\":0,\"paused\":false,\"avg_ms\":0.000,"
            "\"upstream\":\"blue\"}\n]\n");
  EXPECT_EQ(ResultSetJson(ResultSet({{"a", ColumnType::kText}})), "[\n]\n");
}

}  // namespace
}  // namespace pgvalve::admin
