#include "config/access_rule.h"

#include "absl/strings/str_cat.h"
#include "config/string_views.h"

namespace pgvalve::config {
namespace {

// Only valid texts are parsed here, so a failure is a programming error.
std::vector<ClientNetwork> Networks(std::initializer_list<std::string_view> texts) {
  std::vector<ClientNetwork> networks;
  for (std::string_view text : texts) networks.push_back(*ClientNetwork::Parse(text));
  return networks;
}

bool SameNetworks(const std::vector<ClientNetwork>& a, const std::vector<ClientNetwork>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].text() != b[i].text()) return false;
  }
  return true;
}

}  // namespace

std::vector<ClientNetwork> AccessRule::AnySource() {
  return Networks({"0.0.0.0/0", "::/0", "unix"});
}

bool AccessRule::SameAs(const AccessRule& other) const {
  return name == other.name && databases == other.databases && users == other.users &&
         SameNetworks(sources, other.sources) && tls == other.tls && action == other.action;
}

std::vector<AccessRule> DefaultAccessRules() {
  AccessRule local;
  local.name = "local (default)";
  local.sources = Networks({"127.0.0.0/8", "::1/128", "unix"});
  local.action = RuleAction::kAllow;
  return {local};
}

std::string RuleName(const AccessRule& rule, std::string_view listener, size_t index) {
  if (rule.name) return *rule.name;
  return absl::StrCat(AbslView(listener), " rule ", index + 1);
}

std::optional<RuleTls> ParseRuleTls(std::string_view text) {
  if (text == "any") return RuleTls::kAny;
  if (text == "required") return RuleTls::kRequired;
  if (text == "client_cert") return RuleTls::kClientCertificate;
  return std::nullopt;
}

std::string_view RuleTlsName(RuleTls tls) {
  switch (tls) {
    case RuleTls::kAny: return "any";
    case RuleTls::kRequired: return "required";
    case RuleTls::kClientCertificate: return "client_cert";
  }
  return "any";
}

std::optional<RuleAction> ParseRuleAction(std::string_view text) {
  if (text == "allow") return RuleAction::kAllow;
  if (text == "deny") return RuleAction::kDeny;
  return std::nullopt;
}

std::string_view RuleActionName(RuleAction action) {
  return action == RuleAction::kAllow ? "allow" : "deny";
}

}  // namespace pgvalve::config
