#include "proxy/access_rules.h"

#include <algorithm>

#include "fmt/format.h"

namespace pgvalve::proxy {
namespace {

bool NameMatches(const std::vector<std::string>& patterns, std::string_view name) {
  return std::any_of(patterns.begin(), patterns.end(), [name](const std::string& pattern) {
    return pattern == config::kAnyName || pattern == name;
  });
}

bool SourceMatches(const std::vector<config::ClientNetwork>& sources, std::string_view address) {
  return std::any_of(sources.begin(), sources.end(), [address](const config::ClientNetwork& network) {
    return network.Contains(address);
  });
}

bool TlsMatches(config::RuleTls tls, const ConnectionSecurity& security) {
  switch (tls) {
    case config::RuleTls::kAny: return true;
    case config::RuleTls::kRequired: return security.tls;
    case config::RuleTls::kClientCertificate: return security.client_certificate;
  }
  return false;
}

// As PostgreSQL says it: "[local]" for the unix socket.
std::string_view HostText(std::string_view client_address) {
  return client_address == "unix" ? "[local]" : client_address;
}

std::string_view EncryptionText(const ConnectionSecurity& security) {
  if (security.client_certificate) return "TLS encryption with a client certificate";
  return security.tls ? "TLS encryption" : "no encryption";
}

}  // namespace

std::string_view ListenerName(AccessListener listener) {
  return listener == AccessListener::kProxy ? "proxy" : "admin";
}

bool RuleMatches(const config::AccessRule& rule, const AccessRequest& request) {
  return NameMatches(rule.databases, request.database) && NameMatches(rule.users, request.user) &&
         SourceMatches(rule.sources, request.client_address) && TlsMatches(rule.tls, request.security);
}

std::optional<size_t> FirstMatchingRule(std::span<const config::AccessRule> rules,
                                        const AccessRequest& request) {
  for (size_t i = 0; i < rules.size(); ++i) {
    if (RuleMatches(rules[i], request)) return i;
  }
  return std::nullopt;
}

std::string RefusalMessage(const AccessRequest& request, std::optional<std::string_view> rule_name) {
  const std::string who =
      fmt::format("host \"{}\", user \"{}\", database \"{}\", {}", HostText(request.client_address),
                  request.user, request.database, EncryptionText(request.security));
  if (rule_name) return fmt::format("pgvalve: rule \"{}\" refuses {}", *rule_name, who);
  return fmt::format("pgvalve: no rule allows {}", who);
}

}  // namespace pgvalve::proxy
