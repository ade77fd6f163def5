#pragma once
// Whether an access rule (config/access_rule.h) matches a client, and what
// the client is told when it is refused. Pure: no I/O, no logging, no
// counting; AccessRuleSet counts and AccessControl logs.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config/access_rule.h"
#include "proxy/connection_security.h"

namespace pgvalve::proxy {

// The two listeners with rules of their own.
enum class AccessListener { kProxy, kAdmin };
// "proxy", "admin": as in "proxy rule 2" and SHOW RULES' listener column.
std::string_view ListenerName(AccessListener listener);

// What a rule is matched against: everything the StartupMessage and the
// connection say about the client, before it has proved anything else.
struct AccessRequest {
  std::string_view client_address;  // an IP address or "unix", as ClientAddress has it
  ConnectionSecurity security;
  std::string_view database;
  std::string_view user;
};

bool RuleMatches(const config::AccessRule& rule, const AccessRequest& request);

// The index of the first rule that matches; nullopt when none does.
std::optional<size_t> FirstMatchingRule(std::span<const config::AccessRule> rules,
                                        const AccessRequest& request);

// The FATAL 28000 text, modelled on PostgreSQL's `no pg_hba.conf entry for
// host "...", user "...", database "...", no encryption`. `rule_name` is
// the deny rule that matched, or nullopt when no rule did. It names only
// what the client sent, so it tells nothing about which databases or users
// exist.
std::string RefusalMessage(const AccessRequest& request, std::optional<std::string_view> rule_name);

}  // namespace pgvalve::proxy
