#include "config/access_rules_reader.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "config/string_views.h"

namespace pgvalve::config {
namespace {

void ReadSources(TomlTable& entry, FirstError& errors, std::vector<ClientNetwork>& sources) {
  if (entry.Get("sources") == nullptr) return;
  std::vector<std::string> texts;
  entry.StringList("sources", texts);
  if (errors.failed()) return;
  std::vector<ClientNetwork> networks;
  for (size_t i = 0; i < texts.size(); ++i) {
    absl::StatusOr<ClientNetwork> network = ClientNetwork::Parse(texts[i]);
    if (!network.ok()) {
      errors.Fail(IndexKey(entry.PathOf("sources"), i), StdView(network.status().message()));
      return;
    }
    networks.push_back(*std::move(network));
  }
  sources = std::move(networks);
}

void ReadTls(TomlTable& entry, FirstError& errors, RuleTls& tls) {
  std::optional<std::string> text;
  entry.String("tls", text);
  if (!text || errors.failed()) return;
  const std::optional<RuleTls> parsed = ParseRuleTls(*text);
  if (!parsed) {
    entry.Fail("tls", absl::StrCat("must be \"any\", \"required\" or \"client_cert\", got ",
                                   Quoted(*text)));
    return;
  }
  tls = *parsed;
}

void ReadAction(TomlTable& entry, FirstError& errors, RuleAction& action) {
  std::optional<std::string> text;
  entry.String("action", text);
  if (!text || errors.failed()) return;
  const std::optional<RuleAction> parsed = ParseRuleAction(*text);
  if (!parsed) {
    entry.Fail("action", absl::StrCat("must be \"allow\" or \"deny\", got ", Quoted(*text)));
    return;
  }
  action = *parsed;
}

}  // namespace

void ReadAccessRules(TomlTable& listener, FirstError& errors, std::vector<AccessRule>& rules) {
  if (listener.Get("rules") == nullptr) return;
  const std::vector<const toml::value*> entries = listener.TableArray("rules");
  if (errors.failed()) return;
  std::vector<AccessRule> read;
  for (size_t i = 0; i < entries.size(); ++i) {
    TomlTable entry(entries[i], IndexKey(listener.PathOf("rules"), i), errors,
                    {"name", "databases", "users", "sources", "tls", "action"});
    AccessRule rule;
    // Without a default: a rule that forgot whether it allows or refuses
    // must not silently do either.
    entry.Require("action");
    entry.String("name", rule.name);
    entry.StringList("databases", rule.databases);
    entry.StringList("users", rule.users);
    ReadSources(entry, errors, rule.sources);
    ReadTls(entry, errors, rule.tls);
    ReadAction(entry, errors, rule.action);
    read.push_back(std::move(rule));
  }
  // An explicit `rules = []` comes out empty, for Validate to refuse.
  rules = std::move(read);
}

}  // namespace pgvalve::config
