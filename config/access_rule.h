#pragma once
// Access rules: which clients may open a session, decided on the
// StartupMessage before anything else is done for them. Each listener (the
// proxy's and the admin console's) has an ordered list; the first rule that
// matches decides, and a client no rule matches is refused.
//
//   [[proxy.rules]]
//   name = "office"                     # optional; else "proxy rule N"
//   databases = ["app", "*"]            # exact names or "*"; default ["*"]
//   users = ["*"]                       # default ["*"]
//   sources = ["10.0.0.0/8", "unix"]    # CIDRs or "unix"; default: anywhere
//   tls = "any"                         # "required" | "client_cert"
//   action = "allow"                    # or "deny"; required

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/client_network.h"

namespace pgvalve::config {

// What the client's transport must have proved for a rule to match.
enum class RuleTls { kAny, kRequired, kClientCertificate };
enum class RuleAction { kAllow, kDeny };

inline constexpr std::string_view kAnyName = "*";

struct AccessRule {
  // As written; without one the rule is called by its listener and
  // position, "proxy rule 2", which RuleName() spells.
  std::optional<std::string> name;
  std::vector<std::string> databases{std::string(kAnyName)};
  std::vector<std::string> users{std::string(kAnyName)};
  std::vector<ClientNetwork> sources = AnySource();
  RuleTls tls = RuleTls::kAny;
  RuleAction action = RuleAction::kDeny;

  // Every IPv4 and IPv6 address and the unix socket.
  static std::vector<ClientNetwork> AnySource();
  // Same name (or none), patterns, sources, tls and action.
  bool SameAs(const AccessRule& other) const;
};

// When a listener has no rules of its own: loopback (127.0.0.0/8, ::1) and
// the unix socket are allowed, anything else is refused. A proxy that
// listens on a public address by mistake must not open it to the world.
std::vector<AccessRule> DefaultAccessRules();

// "proxy rule 2": `listener` is "proxy" or "admin", `index` 0-based.
std::string RuleName(const AccessRule& rule, std::string_view listener, size_t index);

std::optional<RuleTls> ParseRuleTls(std::string_view text);
std::string_view RuleTlsName(RuleTls tls);
std::optional<RuleAction> ParseRuleAction(std::string_view text);
std::string_view RuleActionName(RuleAction action);

}  // namespace pgvalve::config
