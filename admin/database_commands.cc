#include "admin/database_commands.h"

#include "admin/command_support.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"

namespace pgvalve::admin {
namespace {

using std::chrono::steady_clock;
namespace sqlstate = protocol::sqlstate;

constexpr std::chrono::seconds kProgressInterval{1};

bool Settled(proxy::SessionState state) {
  return state == proxy::SessionState::kIdle || state == proxy::SessionState::kHeld;
}

std::vector<std::shared_ptr<proxy::SessionRecord>> Unsettled(CommandContext& context,
                                                             std::string_view database) {
  std::vector<std::shared_ptr<proxy::SessionRecord>> unsettled;
  for (auto& record : SessionsOf(context.services.server.sessions(), database)) {
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
  proxy::DisableState state{.reason = "disabled by an operator", .except_roles = {}};
  if (arguments.AcceptKeyword("EXCEPT")) {
    if (absl::Status role = arguments.ExpectKeyword("ROLE"); !role.ok()) co_return role;
    absl::StatusOr<std::vector<std::string>> roles = arguments.ExpectNameList("a role name");
    if (!roles.ok()) co_return roles.status();
    state.except_roles = *std::move(roles);
  }
  if (arguments.AcceptKeyword("REASON")) {
    absl::StatusOr<std::string> reason = arguments.ExpectString("a reason in single quotes");
    if (!reason.ok()) co_return reason.status();
    state.reason = *std::move(reason);
  }
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;

  context.services.server.databases().Gate(*database)->Disable(std::move(state));
  co_await PersistState(context);
  co_return CommandResult{std::nullopt, "DISABLE"};
}

Awaitable<absl::StatusOr<CommandResult>> Enable(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<std::string> database = arguments.ExpectName("a database name");
  if (!database.ok()) co_return database.status();
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  context.services.server.databases().Gate(*database)->Enable();
  co_await PersistState(context);
  co_return CommandResult{std::nullopt, "ENABLE"};
}

Awaitable<absl::StatusOr<CommandResult>> Pause(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<std::string> database = arguments.ExpectName("a database name");
  if (!database.ok()) co_return database.status();
  std::optional<std::chrono::milliseconds> timeout;
  if (arguments.AcceptKeyword("TIMEOUT")) {
    absl::StatusOr<std::chrono::milliseconds> parsed =
        arguments.ExpectDuration("a duration such as '30s'");
    if (!parsed.ok()) co_return parsed.status();
    timeout = *parsed;
  }
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;

  auto gate = context.services.server.databases().Gate(*database);
  GateWatcher watcher(co_await proxy::asio::this_coro::executor, gate);
  gate->Pause(proxy::StateOrigin::kAdminCommand);
  co_await PersistState(context);

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
      co_await PersistState(context);
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
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  context.services.server.databases().Gate(*database)->Resume();
  co_await PersistState(context);
  co_return CommandResult{std::nullopt, "RESUME"};
}

}  // namespace pgvalve::admin
