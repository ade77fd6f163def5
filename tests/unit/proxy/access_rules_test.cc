// Access rules as the proxy evaluates them: patterns, sources, tls, the
// first match deciding, the defaults, refusal texts, and hit counts across
// a reload.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "proxy/access_control.h"
#include "proxy/access_rule_set.h"
#include "proxy/access_rules.h"

namespace pgvalve::proxy {
namespace {

using config::AccessRule;
using config::ClientNetwork;
using config::RuleAction;
using config::RuleTls;

constexpr ConnectionSecurity kPlain{};
constexpr ConnectionSecurity kTls{.tls = true, .client_certificate = false};
constexpr ConnectionSecurity kClientCertificate{.tls = true, .client_certificate = true};

AccessRequest Request(std::string_view address, std::string_view database = "app",
                      std::string_view user = "alice", ConnectionSecurity security = kPlain) {
  return AccessRequest{.client_address = address, .security = security, .database = database, .user = user};
}

std::vector<ClientNetwork> Sources(std::initializer_list<std::string_view> texts) {
  std::vector<ClientNetwork> sources;
  for (std::string_view text : texts) sources.push_back(*ClientNetwork::Parse(text));
  return sources;
}

AccessRule Rule(RuleAction action) {
  AccessRule rule;
  rule.action = action;
  return rule;
}

TEST(AccessRuleMatchTest, OmittedKeysMatchEveryone) {
  const AccessRule rule = Rule(RuleAction::kAllow);
  EXPECT_TRUE(RuleMatches(rule, Request("127.0.0.1")));
  EXPECT_TRUE(RuleMatches(rule, Request("203.0.113.9", "other", "bob")));
  EXPECT_TRUE(RuleMatches(rule, Request("2001:db8::1")));
  EXPECT_TRUE(RuleMatches(rule, Request("unix")));
  EXPECT_TRUE(RuleMatches(rule, Request("::ffff:10.0.0.1")));
}

TEST(AccessRuleMatchTest, DatabaseAndUserPatternsAreExactNamesOrStar) {
  AccessRule rule = Rule(RuleAction::kAllow);
  rule.databases = {"app", "reports"};
  rule.users = {"alice"};
  EXPECT_TRUE(RuleMatches(rule, Request("unix", "app", "alice")));
  EXPECT_TRUE(RuleMatches(rule, Request("unix", "reports", "alice")));
  EXPECT_FALSE(RuleMatches(rule, Request("unix", "App", "alice")));
  EXPECT_FALSE(RuleMatches(rule, Request("unix", "app2", "alice")));
  EXPECT_FALSE(RuleMatches(rule, Request("unix", "app", "alicia")));
  EXPECT_FALSE(RuleMatches(rule, Request("unix", "", "alice")));
  // "*" is a wildcard only on its own, not a glob.
  rule.users = {"al*"};
  EXPECT_FALSE(RuleMatches(rule, Request("unix", "app", "alice")));
  EXPECT_TRUE(RuleMatches(rule, Request("unix", "app", "al*")));
  rule.users = {"bob", "*"};
  EXPECT_TRUE(RuleMatches(rule, Request("unix", "app", "anyone")));
}

TEST(AccessRuleMatchTest, SourcesAreNetworksOrTheUnixSocket) {
  AccessRule rule = Rule(RuleAction::kDeny);
  rule.sources = Sources({"10.0.0.0/8", "2001:db8::/32"});
  EXPECT_TRUE(RuleMatches(rule, Request("10.20.30.40")));
  EXPECT_TRUE(RuleMatches(rule, Request("::ffff:10.20.30.40")));
  EXPECT_TRUE(RuleMatches(rule, Request("2001:db8::7")));
  EXPECT_FALSE(RuleMatches(rule, Request("11.0.0.1")));
  EXPECT_FALSE(RuleMatches(rule, Request("unix")));
  rule.sources = Sources({"unix"});
  EXPECT_TRUE(RuleMatches(rule, Request("unix")));
  EXPECT_FALSE(RuleMatches(rule, Request("127.0.0.1")));
  // A peer whose address could not be read matches no network.
  rule.sources = Sources({"0.0.0.0/0", "::/0"});
  EXPECT_FALSE(RuleMatches(rule, Request("unknown")));
}

TEST(AccessRuleMatchTest, TlsRequirementsLookAtWhatTheConnectionProved) {
  AccessRule rule = Rule(RuleAction::kAllow);
  rule.tls = RuleTls::kAny;
  EXPECT_TRUE(RuleMatches(rule, Request("unix", "app", "alice", kPlain)));
  EXPECT_TRUE(RuleMatches(rule, Request("unix", "app", "alice", kTls)));
  rule.tls = RuleTls::kRequired;
  EXPECT_FALSE(RuleMatches(rule, Request("unix", "app", "alice", kPlain)));
  EXPECT_TRUE(RuleMatches(rule, Request("unix", "app", "alice", kTls)));
  EXPECT_TRUE(RuleMatches(rule, Request("unix", "app", "alice", kClientCertificate)));
  rule.tls = RuleTls::kClientCertificate;
  EXPECT_FALSE(RuleMatches(rule, Request("unix", "app", "alice", kPlain)));
  EXPECT_FALSE(RuleMatches(rule, Request("unix", "app", "alice", kTls)));
  EXPECT_TRUE(RuleMatches(rule, Request("unix", "app", "alice", kClientCertificate)));
}

TEST(AccessRuleMatchTest, TheFirstMatchDecides) {
  AccessRule interns = Rule(RuleAction::kDeny);
  interns.users = {"intern"};
  AccessRule office = Rule(RuleAction::kAllow);
  office.sources = Sources({"10.0.0.0/8"});
  AccessRule everyone_else = Rule(RuleAction::kDeny);
  const std::vector<AccessRule> rules = {interns, office, everyone_else};
  EXPECT_EQ(FirstMatchingRule(rules, Request("10.1.1.1", "app", "intern")), 0u);
  EXPECT_EQ(FirstMatchingRule(rules, Request("10.1.1.1", "app", "alice")), 1u);
  EXPECT_EQ(FirstMatchingRule(rules, Request("192.0.2.1", "app", "alice")), 2u);
  EXPECT_EQ(FirstMatchingRule(std::span(rules).first(2), Request("192.0.2.1")), std::nullopt);
  EXPECT_EQ(FirstMatchingRule({}, Request("127.0.0.1")), std::nullopt);
}

TEST(AccessRuleMatchTest, DefaultRulesAllowOnlyLoopbackAndTheUnixSocket) {
  const AccessRuleSet rules(AccessListener::kProxy, config::DefaultAccessRules());
  for (std::string_view local : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "unix"}) {
    EXPECT_TRUE(rules.Evaluate(Request(local)).allowed) << local;
  }
  for (std::string_view remote : {"10.0.0.1", "192.168.1.1", "::2", "2001:db8::1", "::ffff:10.0.0.1"}) {
    const AccessRuleSet::Decision decision = rules.Evaluate(Request(remote));
    EXPECT_FALSE(decision.allowed) << remote;
    EXPECT_EQ(decision.rule, std::nullopt) << remote;
  }
}

TEST(AccessRefusalTest, NamesTheRuleOrSaysNoneMatched) {
  EXPECT_EQ(RefusalMessage(Request("127.0.0.1", "app", "alice"), "office-deny"),
            "pgvalve: rule \"office-deny\" refuses host \"127.0.0.1\", user \"alice\", database "
            "\"app\", no encryption");
  EXPECT_EQ(RefusalMessage(Request("unix", "pgvalve", "admin", kTls), std::nullopt),
            "pgvalve: no rule allows host \"[local]\", user \"admin\", database \"pgvalve\", TLS "
            "encryption");
  EXPECT_EQ(RefusalMessage(Request("::1", "app", "alice", kClientCertificate), "proxy rule 3"),
            "pgvalve: rule \"proxy rule 3\" refuses host \"::1\", user \"alice\", database \"app\", "
            "TLS encryption with a client certificate");
}

TEST(AccessRuleSetTest, CountsAHitOnTheDecidingRuleOrOnNoMatch) {
  AccessRule deny_intern = Rule(RuleAction::kDeny);
  deny_intern.name = "no interns";
  deny_intern.users = {"intern"};
  AccessRule unix_socket = Rule(RuleAction::kAllow);
  unix_socket.sources = Sources({"unix"});
  const AccessRuleSet rules(AccessListener::kAdmin, {deny_intern, unix_socket});
  EXPECT_EQ(rules.name(0), "no interns");
  EXPECT_EQ(rules.name(1), "admin rule 2");

  EXPECT_FALSE(rules.Evaluate(Request("unix", "pgvalve", "intern")).allowed);
  const AccessRuleSet::Decision allowed = rules.Evaluate(Request("unix", "pgvalve", "admin"));
  EXPECT_TRUE(allowed.allowed);
  EXPECT_EQ(allowed.rule, 1u);
  EXPECT_TRUE(rules.Evaluate(Request("unix", "pgvalve", "admin")).allowed);
  EXPECT_FALSE(rules.Evaluate(Request("127.0.0.1", "pgvalve", "admin")).allowed);
  EXPECT_EQ(rules.hits(0), 1u);
  EXPECT_EQ(rules.hits(1), 2u);
  EXPECT_EQ(rules.unmatched_hits(), 1u);
}

TEST(AccessRuleSetTest, UnchangedRulesKeepTheirHitsAcrossAReload) {
  AccessRule office = Rule(RuleAction::kAllow);
  office.name = "office";
  office.sources = Sources({"10.0.0.0/8"});
  AccessRule local = Rule(RuleAction::kAllow);
  local.sources = Sources({"unix"});
  const AccessRuleSet before(AccessListener::kProxy, {office, local});
  before.Evaluate(Request("10.0.0.1"));
  before.Evaluate(Request("10.0.0.2"));
  before.Evaluate(Request("unix"));
  before.Evaluate(Request("192.0.2.1"));

  // A new rule first; office unchanged (moved), local changed.
  AccessRule interns = Rule(RuleAction::kDeny);
  interns.users = {"intern"};
  AccessRule local_changed = local;
  local_changed.databases = {"app"};
  const AccessRuleSet after(AccessListener::kProxy, {interns, office, local_changed}, &before);
  EXPECT_EQ(after.hits(0), 0u);
  EXPECT_EQ(after.name(1), "office");
  EXPECT_EQ(after.hits(1), 2u);
  EXPECT_EQ(after.hits(2), 0u);
  EXPECT_EQ(after.unmatched_hits(), 1u);

  // A session still holding the old set counts on the shared counter.
  before.Evaluate(Request("10.0.0.3"));
  EXPECT_EQ(after.hits(1), 3u);
}

TEST(AccessRuleSetTest, CountsEveryHitFromManyThreads) {
  const AccessRuleSet rules(AccessListener::kProxy, config::DefaultAccessRules());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&rules, t] {
      for (int i = 0; i < kPerThread; ++i) rules.Evaluate(Request(t % 2 == 0 ? "unix" : "10.0.0.1"));
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(rules.hits(0), static_cast<uint64_t>(kThreads / 2 * kPerThread));
  EXPECT_EQ(rules.unmatched_hits(), static_cast<uint64_t>(kThreads / 2 * kPerThread));
}

TEST(AccessControlTest, RefusesWithTheMessageAndTakesReloadedRules) {
  config::Config config;
  AccessRule deny_app = Rule(RuleAction::kDeny);
  deny_app.name = "no app";
  deny_app.databases = {"app"};
  config.proxy.rules = {deny_app, Rule(RuleAction::kAllow)};
  AccessControl access(config, 10, std::chrono::seconds(10));
  const ClientAddress tcp{"127.0.0.1", 40000};

  EXPECT_EQ(access.Refusal(AccessListener::kProxy, tcp, kPlain, "other", "alice"), std::nullopt);
  EXPECT_EQ(access.Refusal(AccessListener::kProxy, tcp, kPlain, "app", "alice"),
            "pgvalve: rule \"no app\" refuses host \"127.0.0.1\", user \"alice\", database \"app\", "
            "no encryption");
  // The admin listener kept its defaults.
  EXPECT_EQ(access.Refusal(AccessListener::kAdmin, tcp, kPlain, "pgvalve", "admin"), std::nullopt);
  EXPECT_EQ(access.Refusal(AccessListener::kAdmin, ClientAddress{"10.0.0.1", 40000}, kPlain, "pgvalve",
                           "admin"),
            "pgvalve: no rule allows host \"10.0.0.1\", user \"admin\", database \"pgvalve\", no "
            "encryption");

  config.proxy.rules = {deny_app};
  access.Update(config);
  EXPECT_EQ(access.Refusal(AccessListener::kProxy, tcp, kPlain, "other", "alice"),
            "pgvalve: no rule allows host \"127.0.0.1\", user \"alice\", database \"other\", no "
            "encryption");
  const std::shared_ptr<const AccessRuleSet> rules = access.Rules(AccessListener::kProxy);
  ASSERT_EQ(rules->size(), 1u);
  EXPECT_EQ(rules->hits(0), 1u);  // "no app" is unchanged: its hit carried over
  EXPECT_EQ(rules->unmatched_hits(), 1u);
  EXPECT_EQ(access.Rules(AccessListener::kAdmin)->unmatched_hits(), 1u);
}

}  // namespace
}  // namespace pgvalve::proxy
