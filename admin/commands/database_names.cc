#include "admin/commands/database_names.h"

#include <cctype>
#include <set>

#include "admin/commands/command_support.h"
#include "admin/limits/runtime_limits.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"

namespace pgvalve::admin {
namespace {

// Every name the operator may mean: routes, live sessions, gates, limits.
std::set<std::string> KnownDatabases(CommandContext& context) {
  std::set<std::string> names;
  for (const auto& [name, route] : context.services.config.Current()->databases) {
    if (name != "*") names.insert(name);
  }
  for (const auto& record : context.services.sessions.All()) {
    names.insert(record->identity().database);
  }
  for (const auto& gate : context.services.databases.All()) names.insert(gate->name());
  for (const auto& [name, settings] : context.services.limits.all()) {
    if (name != "*") names.insert(name);
  }
  return names;
}

std::string Lowercase(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

}  // namespace

bool IsKnownDatabase(CommandContext& context, const std::string& database) {
  if (database == "*") return false;
  if (context.services.config.Current()->databases.contains(database)) return true;
  if (!SessionsOf(context.services.sessions, database).empty()) return true;
  if (context.services.limits.Find(database) != nullptr) return true;
  return context.services.databases.Contains(database);
}

absl::Status UnknownDatabase(CommandContext& context, const std::string& database,
                             std::string_view override_hint) {
  std::string detail = "It has no route of its own, no session and no state set by an operator.";
  for (const std::string& known : KnownDatabases(context)) {
    if (known != database && Lowercase(known) == Lowercase(database)) {
      detail += fmt::format(" Did you mean \"{}\"? Names without double quotes fold to lower case.", known);
      break;
    }
  }
  if (!override_hint.empty()) detail += fmt::format(" {}.", override_hint);
  return protocol::WithDetail(
      protocol::ErrorWithSqlState(protocol::sqlstate::kInvalidCatalogName,
                                  fmt::format("database \"{}\" is not known to pgvalve", database)),
      detail);
}

absl::Status RequireKnownDatabase(CommandContext& context, const std::string& database, bool force,
                                  std::string_view override_hint) {
  if (force || IsKnownDatabase(context, database)) return absl::OkStatus();
  return UnknownDatabase(context, database, override_hint);
}

}  // namespace pgvalve::admin
