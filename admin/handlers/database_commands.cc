#include "admin/handlers/database_commands.h"

#include "admin/commands/command_support.h"
#include "admin/commands/database_names.h"
#include "admin/commands/state_commit.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"

namespace pgvalve::admin {
namespace {

using std::chrono::steady_clock;
namespace sqlstate = protocol::sqlstate;

constexpr std::chrono::seconds kProgressInterval{1};

constexpr std::string_view kDefaultReason = "disabled by an operator";

// What DISABLE and DISABLE ALL take after their target:
//   [FORCE] [EXCEPT db [, ...]] [EXCEPT ROLE r [, ...]] [REASON 'text']
// where EXCEPT db is for DISABLE ALL only.
struct DisableOptions {
  bool force = false;
  std::vector<std::string> except_databases;
  std::vector<std::string> except_roles;
  std::string reason{kDefaultReason};
};

absl::StatusOr<DisableOptions> ParseDisableOptions(ArgumentCursor& arguments, bool all) {
  DisableOptions options;
  options.force = arguments.AcceptKeyword("FORCE");
  if (arguments.AcceptKeyword("EXCEPT")) {
    if (all && !arguments.AcceptKeyword("ROLE")) {
      absl::StatusOr<std::vector<std::string>> databases =
          arguments.ExpectNameList("a database name or ROLE");
      if (!databases.ok()) return databases.status();
      options.except_databases = *std::move(databases);
      if (arguments.AcceptKeyword("EXCEPT")) {
        if (absl::Status role = arguments.ExpectKeyword("ROLE"); !role.ok()) return role;
        absl::StatusOr<std::vector<std::string>> roles = arguments.ExpectNameList("a role name");
        if (!roles.ok()) return roles.status();
        options.except_roles = *std::move(roles);
      }
    } else {
      if (!all) {
        if (absl::Status role = arguments.ExpectKeyword("ROLE"); !role.ok()) return role;
      }
      absl::StatusOr<std::vector<std::string>> roles = arguments.ExpectNameList("a role name");
      if (!roles.ok()) return roles.status();
      options.except_roles = *std::move(roles);
    }
  }
  if (arguments.AcceptKeyword("REASON")) {
    absl::StatusOr<std::string> reason = arguments.ExpectString("a reason in single quotes");
    if (!reason.ok()) return reason.status();
    options.reason = *std::move(reason);
  }
  return options;
}

// "*" routes the databases that have no route of their own; acting on it
// as if it were one would report a state no gate enforces.
absl::Status NotADatabase(std::string_view instead) {
  return protocol::WithDetail(
      protocol::ErrorWithSqlState(sqlstate::kInvalidCatalogName,
                                  "\"*\" is not a database: it routes every database without a route "
                                  "of its own"),
      fmt::format("Use {}.", instead));
}

bool Settled(proxy::SessionState state) {
  return state == proxy::SessionState::kIdle || state == proxy::SessionState::kHeld;
}

std::vector<std::shared_ptr<proxy::SessionRecord>> Unsettled(CommandContext& context,
                                                             std::string_view database) {
  std::vector<std::shared_ptr<proxy::SessionRecord>> unsettled;
  for (auto& record : SessionsOf(context.services.sessions, database)) {
    if (!Settled(record->state())) unsettled.push_back(std::move(record));
  }
  return unsettled;
}

std::string DescribeAll(const std::vector<std::shared_ptr<proxy::SessionRecord>>& records) {
  const auto now = std::chrono::system_clock::now();
  std::string text;
  for (const auto& record : records) {
    text += (text.empty() ? "" : "\n") + DescribeSession(*record, now);
  }
  return text;
}

}  // namespace

Awaitable<absl::StatusOr<CommandResult>> Disable(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<std::string> database = arguments.ExpectName("a database name");
  if (!database.ok()) co_return database.status();
  if (*database == "*") co_return NotADatabase("DISABLE ALL");
  absl::StatusOr<DisableOptions> options = ParseDisableOptions(arguments, /*all=*/false);
  if (!options.ok()) co_return options.status();
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  if (absl::Status known = RequireKnownDatabase(context, *database, options->force,
                                                     "DISABLE " + *database + " FORCE refuses it anyway");
      !known.ok()) {
    co_return known;
  }
  if (absl::Status allowed = CheckStateChange(context.services); !allowed.ok()) co_return allowed;

  context.services.databases.Gate(*database)->Disable(
      {.reason = std::move(options->reason), .except_roles = std::move(options->except_roles)});
  absl::Status persisted = co_await PersistState(context);
  if (!persisted.ok()) co_return persisted;
  co_return CommandResult{std::nullopt, "DISABLE"};
}

Awaitable<absl::StatusOr<CommandResult>> DisableAll(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<DisableOptions> options = ParseDisableOptions(arguments, /*all=*/true);
  if (!options.ok()) co_return options.status();
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  // A misspelled exception would refuse the very database meant to stay open.
  for (const std::string& database : options->except_databases) {
    if (database == "*") co_return NotADatabase("DISABLE ALL EXCEPT with the databases to keep open");
    if (!options->force && !IsKnownDatabase(context, database)) {
      co_return UnknownDatabase(context, database, "DISABLE ALL FORCE EXCEPT ... accepts it anyway");
    }
  }
  if (absl::Status allowed = CheckStateChange(context.services); !allowed.ok()) co_return allowed;
  context.services.databases.disable_all().Set(
      {.reason = std::move(options->reason),
       .except_databases = std::move(options->except_databases),
       .except_roles = std::move(options->except_roles),
       .origin = proxy::StateOrigin::kAdminCommand});
  absl::Status persisted = co_await PersistState(context);
  if (!persisted.ok()) co_return persisted;
  co_return CommandResult{std::nullopt, "DISABLE"};
}

Awaitable<absl::StatusOr<CommandResult>> Enable(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<std::string> database = arguments.ExpectName("a database name");
  if (!database.ok()) co_return database.status();
  if (*database == "*") co_return NotADatabase("ENABLE ALL");
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  if (!IsKnownDatabase(context, *database)) co_return UnknownDatabase(context, *database, "");
  if (absl::Status allowed = CheckStateChange(context.services); !allowed.ok()) co_return allowed;
  proxy::DatabaseRegistry& databases = context.services.databases;
  databases.Gate(*database)->Enable();
  absl::Status persisted = co_await PersistState(context);
  if (!persisted.ok()) co_return persisted;
  if (databases.disable_all().Covers(*database)) {
    co_await context.notices.Notice(
        fmt::format("database \"{}\" stays disabled: DISABLE ALL refuses it", *database),
        fmt::format("ENABLE ALL lifts DISABLE ALL; DISABLE ALL EXCEPT {} keeps this one open.", *database));
  }
  co_return CommandResult{std::nullopt, "ENABLE"};
}

Awaitable<absl::StatusOr<CommandResult>> EnableAll(CommandContext& context, ArgumentCursor& arguments) {
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  if (absl::Status allowed = CheckStateChange(context.services); !allowed.ok()) co_return allowed;
  proxy::DatabaseRegistry& databases = context.services.databases;
  if (!databases.disable_all().state()) {
    co_await context.notices.Notice("DISABLE ALL was not in effect");
  }
  databases.disable_all().Clear();
  absl::Status persisted = co_await PersistState(context);
  if (!persisted.ok()) co_return persisted;
  co_return CommandResult{std::nullopt, "ENABLE"};
}

Awaitable<absl::StatusOr<CommandResult>> Pause(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<std::string> database = arguments.ExpectName("a database name");
  if (!database.ok()) co_return database.status();
  if (*database == "*") co_return NotADatabase("PAUSE with each database's own name");
  const bool force = arguments.AcceptKeyword("FORCE");
  std::optional<std::chrono::milliseconds> timeout;
  if (arguments.AcceptKeyword("TIMEOUT")) {
    absl::StatusOr<std::chrono::milliseconds> parsed =
        arguments.ExpectDuration("a duration such as '30s'");
    if (!parsed.ok()) co_return parsed.status();
    timeout = *parsed;
  }
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  if (absl::Status known = RequireKnownDatabase(context, *database, force,
                                                 "PAUSE " + *database + " FORCE holds it anyway");
      !known.ok()) {
    co_return known;
  }

  if (absl::Status allowed = CheckStateChange(context.services); !allowed.ok()) co_return allowed;
  auto gate = context.services.databases.Gate(*database);
  GateWatcher watcher(co_await proxy::asio::this_coro::executor, gate);
  gate->Pause(proxy::StateOrigin::kAdminCommand);
  absl::Status persisted = co_await PersistState(context);
  if (!persisted.ok()) co_return persisted;

  const auto started = steady_clock::now();
  const auto give_up = timeout ? started + *timeout : steady_clock::time_point::max();
  auto next_progress = started + kProgressInterval;
  while (true) {
    auto unsettled = Unsettled(context, *database);
    if (unsettled.empty()) break;
    if (!gate->paused()) {
      co_return protocol::ErrorWithSqlState(
          sqlstate::kObjectNotInPrerequisiteState,
          fmt::format("database \"{}\" was resumed before PAUSE completed", *database));
    }
    const auto now = steady_clock::now();
    if (now >= give_up) {
      gate->Resume();
      // Whether or not the fleet took the resume, the timeout is the news.
      absl::Status resumed = co_await PersistState(context);
      static_cast<void>(resumed);
      co_return protocol::WithDetail(
          protocol::ErrorWithSqlState(
              sqlstate::kQueryCanceled,
              fmt::format("PAUSE {} timed out after {} ms with {} session(s) still in a "
                          "transaction; the database was resumed",
                          *database, timeout->count(), unsettled.size())),
          DescribeAll(unsettled));
    }
    if (now >= next_progress) {
      next_progress += kProgressInterval;
      if (!co_await context.notices.Notice(
              fmt::format("pausing {}: waiting for {} session(s) to leave their transaction",
                          *database, unsettled.size()),
              DescribeAll(unsettled))) {
        // The operator is gone; the pause stays, as a PAUSE that returned would.
        co_return CommandResult{std::nullopt, "PAUSE"};
      }
    }
    co_await watcher.WaitUntil(std::min(next_progress, give_up));
  }
  co_return CommandResult{std::nullopt, "PAUSE"};
}

Awaitable<absl::StatusOr<CommandResult>> Resume(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<std::string> database = arguments.ExpectName("a database name");
  if (!database.ok()) co_return database.status();
  if (*database == "*") co_return NotADatabase("RESUME with each database's own name");
  const bool force = arguments.AcceptKeyword("FORCE");
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  if (absl::Status known = RequireKnownDatabase(context, *database, force,
                                                 "RESUME " + *database + " FORCE accepts the name anyway");
      !known.ok()) {
    co_return known;
  }
  if (absl::Status allowed = CheckStateChange(context.services); !allowed.ok()) co_return allowed;
  context.services.databases.Gate(*database)->Resume();
  absl::Status persisted = co_await PersistState(context);
  if (!persisted.ok()) co_return persisted;
  co_return CommandResult{std::nullopt, "RESUME"};
}

}  // namespace pgvalve::admin
