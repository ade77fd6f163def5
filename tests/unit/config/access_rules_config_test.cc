// [[proxy.rules]] and [[admin.rules]] in the configuration file: what is
// read, the defaults, and every error with its key path.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config_file.h"

namespace pgvalve::config {
namespace {

using ::testing::ElementsAre;

constexpr std::string_view kRoutes = R"toml(
[upstreams.blue]
port = 5432
[databases."*"]
upstream = "blue"
)toml";

absl::StatusOr<Config> Parse(std::string_view rules) {
  return ParseConfigText(std::string(rules) + std::string(kRoutes), "pgvalve.toml");
}

std::string ErrorOf(std::string_view rules) {
  const absl::StatusOr<Config> config = Parse(rules);
  if (config.ok()) return "<accepted>";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

std::vector<std::string> Texts(const std::vector<ClientNetwork>& networks) {
  std::vector<std::string> texts;
  for (const ClientNetwork& network : networks) texts.push_back(network.text());
  return texts;
}

TEST(AccessRulesConfigTest, WithoutRulesOnlyLoopbackAndTheUnixSocketAreAllowed) {
  const absl::StatusOr<Config> config = Parse("");
  ASSERT_TRUE(config.ok()) << config.status();
  for (const auto* rules : {&config->proxy.rules, &config->admin.rules}) {
    ASSERT_EQ(rules->size(), 1u);
    const AccessRule& local = rules->front();
    EXPECT_EQ(local.name, "local (default)");
    EXPECT_THAT(local.databases, ElementsAre("*"));
    EXPECT_THAT(local.users, ElementsAre("*"));
    EXPECT_THAT(Texts(local.sources), ElementsAre("127.0.0.0/8", "::1/128", "unix"));
    EXPECT_EQ(local.tls, RuleTls::kAny);
    EXPECT_EQ(local.action, RuleAction::kAllow);
  }
}

TEST(AccessRulesConfigTest, ReadsEveryKeyInOrder) {
  const absl::StatusOr<Config> config = Parse(R"toml(
[[proxy.rules]]
name = "office-deny"
databases = ["payroll"]
users = ["intern", "guest"]
sources = ["10.1.0.0/16", "unix"]
tls = "client_cert"
action = "deny"
[[proxy.rules]]
action = "allow"
[[proxy.rules]]
sources = ["::1"]
tls = "required"
action = "allow"
[[admin.rules]]
users = ["admin"]
sources = ["127.0.0.1/32"]
action = "allow"
)toml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->proxy.rules.size(), 3u);
  const AccessRule& first = config->proxy.rules[0];
  EXPECT_EQ(first.name, "office-deny");
  EXPECT_THAT(first.databases, ElementsAre("payroll"));
  EXPECT_THAT(first.users, ElementsAre("intern", "guest"));
  EXPECT_THAT(Texts(first.sources), ElementsAre("10.1.0.0/16", "unix"));
  EXPECT_EQ(first.tls, RuleTls::kClientCertificate);
  EXPECT_EQ(first.action, RuleAction::kDeny);

  // Omitted keys: every database, user and source, any transport.
  const AccessRule& second = config->proxy.rules[1];
  EXPECT_FALSE(second.name.has_value());
  EXPECT_EQ(RuleName(second, "proxy", 1), "proxy rule 2");
  EXPECT_THAT(second.databases, ElementsAre("*"));
  EXPECT_THAT(second.users, ElementsAre("*"));
  EXPECT_THAT(Texts(second.sources), ElementsAre("0.0.0.0/0", "::/0", "unix"));
  EXPECT_EQ(second.tls, RuleTls::kAny);
  EXPECT_EQ(second.action, RuleAction::kAllow);

  EXPECT_THAT(Texts(config->proxy.rules[2].sources), ElementsAre("::1/128"));
  EXPECT_EQ(config->proxy.rules[2].tls, RuleTls::kRequired);

  ASSERT_EQ(config->admin.rules.size(), 1u);
  EXPECT_EQ(RuleName(config->admin.rules[0], "admin", 0), "admin rule 1");
  EXPECT_THAT(config->admin.rules[0].users, ElementsAre("admin"));
}

TEST(AccessRulesConfigTest, NamesEachErrorByItsKeyPath) {
  EXPECT_EQ(ErrorOf("[[proxy.rules]]\nname = \"x\"\n"),
            "pgvalve.toml: proxy.rules[0]: missing required key \"action\"");
  EXPECT_EQ(ErrorOf("[[proxy.rules]]\naction = \"allow\"\n[[proxy.rules]]\naction = \"permit\"\n"),
            "pgvalve.toml: proxy.rules[1].action: must be \"allow\" or \"deny\", got \"permit\"");
  EXPECT_EQ(ErrorOf("[[proxy.rules]]\naction = \"allow\"\ntls = \"yes\"\n"),
            "pgvalve.toml: proxy.rules[0].tls: must be \"any\", \"required\" or \"client_cert\", "
            "got \"yes\"");
  EXPECT_EQ(ErrorOf("[[proxy.rules]]\naction = \"allow\"\nsource = [\"unix\"]\n"),
            "pgvalve.toml: proxy.rules[0].source: unknown key; did you mean \"sources\"?");
  EXPECT_EQ(ErrorOf("[[admin.rules]]\naction = \"allow\"\nsources = [\"unix\", \"10.0.0.1/8\"]\n"),
            "pgvalve.toml: admin.rules[0].sources[1]: invalid client network \"10.0.0.1/8\": it has "
            "bits set to the right of the mask; did you mean '10.0.0.0/8'?");
  EXPECT_EQ(ErrorOf("[[proxy.rules]]\naction = \"allow\"\nsources = [\"localhost\"]\n"),
            "pgvalve.toml: proxy.rules[0].sources[0]: invalid client network \"localhost\": not an "
            "IP address; use e.g. '10.0.0.0/8', '::1' or 'unix'");
  EXPECT_EQ(ErrorOf("[[proxy.rules]]\naction = \"allow\"\nusers = \"app\"\n"),
            "pgvalve.toml: proxy.rules[0].users: must be an array of strings, got string");
  EXPECT_EQ(ErrorOf("[proxy]\nrules = [\"allow\"]\n"),
            "pgvalve.toml: proxy.rules[0]: must be a table, got string");
  EXPECT_EQ(ErrorOf("[proxy]\nrules = 1\n"),
            "pgvalve.toml: proxy.rules: must be an array of tables, got integer");
}

TEST(AccessRulesConfigTest, RefusesEmptyListsAndNames) {
  EXPECT_EQ(ErrorOf("[proxy]\nrules = []\n"),
            "pgvalve.toml: proxy.rules: must not be empty; leave it out to allow only loopback and "
            "the unix socket");
  EXPECT_EQ(ErrorOf("[[proxy.rules]]\naction = \"allow\"\ndatabases = []\n"),
            "pgvalve.toml: proxy.rules[0].databases: must not be empty; [\"*\"] matches every name");
  EXPECT_EQ(ErrorOf("[[admin.rules]]\naction = \"allow\"\nusers = [\"admin\", \"\"]\n"),
            "pgvalve.toml: admin.rules[0].users[1]: must not be empty");
  EXPECT_EQ(ErrorOf("[[proxy.rules]]\naction = \"allow\"\nsources = []\n"),
            "pgvalve.toml: proxy.rules[0].sources: must not be empty; leave it out to match every "
            "source");
  EXPECT_EQ(ErrorOf("[[proxy.rules]]\naction = \"allow\"\nname = \"\"\n"),
            "pgvalve.toml: proxy.rules[0].name: must not be empty");
}

TEST(AccessRulesConfigTest, RefusesTwoRulesOfOneName) {
  EXPECT_EQ(ErrorOf("[[proxy.rules]]\nname = \"a\"\naction = \"allow\"\n"
                    "[[proxy.rules]]\nname = \"b\"\naction = \"allow\"\n"
                    "[[proxy.rules]]\nname = \"a\"\naction = \"deny\"\n"),
            "pgvalve.toml: proxy.rules[2].name: \"a\" is already used by proxy.rules[0]");
  // Each listener has its own names.
  EXPECT_EQ(ErrorOf("[[proxy.rules]]\nname = \"a\"\naction = \"allow\"\n"
                    "[[admin.rules]]\nname = \"a\"\naction = \"allow\"\n"),
            "<accepted>");
}

TEST(AccessRulesConfigTest, SameAsComparesEverythingButPosition) {
  AccessRule a;
  a.action = RuleAction::kAllow;
  AccessRule b = a;
  EXPECT_TRUE(a.SameAs(b));
  b.sources = {*ClientNetwork::Parse("unix")};
  EXPECT_FALSE(a.SameAs(b));
  b = a;
  b.name = "named";
  EXPECT_FALSE(a.SameAs(b));
  b = a;
  b.tls = RuleTls::kRequired;
  EXPECT_FALSE(a.SameAs(b));
}

}  // namespace
}  // namespace pgvalve::config
