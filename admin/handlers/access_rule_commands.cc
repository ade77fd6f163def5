#include "admin/handlers/access_rule_commands.h"

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "config/access_rule.h"

namespace pgvalve::admin {
namespace {

using protocol::ColumnType;
using proxy::AccessListener;
using proxy::AccessRuleSet;

// The row of the refusal that ends every list: what happened to clients
// no rule matched.
constexpr std::string_view kNoRuleMatched = "(no rule matched)";
constexpr AccessListener kListeners[] = {AccessListener::kProxy, AccessListener::kAdmin};

std::string SourcesText(const std::vector<config::ClientNetwork>& sources) {
  std::vector<std::string> texts;
  for (const config::ClientNetwork& source : sources) texts.push_back(source.text());
  return absl::StrJoin(texts, ", ");
}

void AddRows(ResultSet& rows, const AccessRuleSet& rules) {
  const std::string listener(proxy::ListenerName(rules.listener()));
  for (size_t i = 0; i < rules.size(); ++i) {
    const config::AccessRule& rule = rules.rule(i);
    rows.AddRow()
        .Text(listener)
        .Int(static_cast<int64_t>(i + 1))
        .Text(rules.name(i))
        .Text(absl::StrJoin(rule.databases, ", "))
        .Text(absl::StrJoin(rule.users, ", "))
        .Text(SourcesText(rule.sources))
        .Text(config::RuleTlsName(rule.tls))
        .Text(config::RuleActionName(rule.action))
        .Int(static_cast<int64_t>(rules.hits(i)));
  }
  rows.AddRow()
      .Text(listener)
      .Null()
      .Text(kNoRuleMatched)
      .Text(config::kAnyName)
      .Text(config::kAnyName)
      .Text(config::kAnyName)
      .Text(config::RuleTlsName(config::RuleTls::kAny))
      .Text(config::RuleActionName(config::RuleAction::kDeny))
      .Int(static_cast<int64_t>(rules.unmatched_hits()));
}

}  // namespace

Awaitable<absl::StatusOr<CommandResult>> ShowRules(CommandContext& context, ArgumentCursor& arguments) {
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  ResultSet rows({{"listener", ColumnType::kText},
                  {"position", ColumnType::kInt4},
                  {"name", ColumnType::kText},
                  {"databases", ColumnType::kText},
                  {"users", ColumnType::kText},
                  {"sources", ColumnType::kText},
                  {"tls", ColumnType::kText},
                  {"action", ColumnType::kText},
                  {"hits", ColumnType::kInt8}});
  for (AccessListener listener : kListeners) {
    AddRows(rows, *context.services.access.Rules(listener));
  }
  co_return CommandResult{std::move(rows), "SHOW"};
}

}  // namespace pgvalve::admin
