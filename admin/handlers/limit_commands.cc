#include "admin/handlers/limit_commands.h"

#include "admin/commands/command_support.h"
#include "admin/commands/state_commit.h"
#include "admin/commands/database_names.h"
#include "admin/limits/effective_limits.h"
#include "admin/limits/limit_counters.h"
#include "admin/limits/limit_statement.h"
#include "admin/limits/runtime_limits.h"
#include "config/value_text.h"
#include "fmt/format.h"

namespace pgvalve::admin {
namespace {

using protocol::ColumnType;

// How a setting reads in SHOW LIMITS: "off" rather than "0ms".
std::string ValueText(std::chrono::milliseconds value) {
  return value.count() == 0 ? "off" : config::FormatDuration(value);
}

std::string Join(const std::vector<std::string>& items) {
  std::string joined;
  for (const auto& item : items) joined += (joined.empty() ? "" : ", ") + item;
  return joined;
}

}  // namespace

Awaitable<absl::StatusOr<CommandResult>> SetLimit(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<SetLimitStatement> statement = ParseSetLimit(arguments);
  if (!statement.ok()) co_return statement.status();
  // As DISABLE: a limit on a misspelled name would hold nowhere.
  if (statement->database != "*" && !statement->force &&
      !IsKnownDatabase(context, statement->database)) {
    co_return UnknownDatabase(context, statement->database, "Add FORCE to set the limit anyway");
  }
  context.services.limits.Set(statement->database, statement->limit,
                              std::move(statement->setting));
  absl::Status persisted = co_await PersistState(context);
  if (!persisted.ok()) co_return persisted;
  co_return CommandResult{std::nullopt, "SET"};
}

Awaitable<absl::StatusOr<CommandResult>> ResetLimit(CommandContext& context,
                                                    ArgumentCursor& arguments) {
  absl::StatusOr<ResetLimitStatement> statement = ParseResetLimit(arguments);
  if (!statement.ok()) co_return statement.status();
  RuntimeLimits& limits = context.services.limits;
  const bool changed = statement->limit ? limits.Reset(statement->database, *statement->limit)
                                        : limits.ResetAll(statement->database) > 0;
  if (!changed) {
    // As PostgreSQL's RESET of a setting nobody changed: not an error.
    co_await context.notices.Notice(fmt::format(
        "no runtime value of {}.{} was set; nothing changed", statement->database,
        statement->limit ? config::LimitName(*statement->limit) : "ALL"));
    co_return CommandResult{std::nullopt, "RESET"};
  }
  absl::Status persisted = co_await PersistState(context);
  if (!persisted.ok()) co_return persisted;
  co_return CommandResult{std::nullopt, "RESET"};
}

Awaitable<absl::StatusOr<CommandResult>> ShowLimits(CommandContext& context,
                                                    ArgumentCursor& arguments) {
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  ResultSet rows({{"database", ColumnType::kText},
                  {"limit", ColumnType::kText},
                  {"value", ColumnType::kText},
                  {"except_users", ColumnType::kText},
                  {"source", ColumnType::kText},
                  {"cancels", ColumnType::kInt8},
                  {"terminations", ColumnType::kInt8},
                  {"closes", ColumnType::kInt8}});
  const auto config = context.services.config.Current();
  const LimitCounters& counters = context.services.limit_counters;
  for (const LimitEntry& entry : ListLimits(*config, context.services.limits)) {
    auto& row = rows.AddRow();
    row.Text(entry.database)
        .Text(config::LimitName(entry.limit))
        .Text(ValueText(entry.setting.value))
        .Text(Join(entry.setting.except_users))
        .Text(LimitSourceName(entry.source));
    for (LimitAction action : kAllLimitActions) {
      row.Int(static_cast<int64_t>(counters.Count(entry.database, entry.limit, action)));
    }
  }
  co_return CommandResult{std::move(rows), "SHOW"};
}

}  // namespace pgvalve::admin
