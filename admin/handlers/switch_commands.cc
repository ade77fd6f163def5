#include "admin/handlers/switch_commands.h"

#include "admin/commands/command_support.h"
#include "admin/commands/route_switch.h"
#include "admin/commands/state_commit.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"

namespace pgvalve::admin {

namespace sqlstate = protocol::sqlstate;

Awaitable<absl::StatusOr<CommandResult>> Switch(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<std::string> database = arguments.ExpectName("a database name");
  if (!database.ok()) co_return database.status();
  if (absl::Status to = arguments.ExpectKeyword("TO"); !to.ok()) co_return to;
  std::optional<std::string> target;
  if (!arguments.AcceptKeyword("DEFAULT")) {
    absl::StatusOr<std::string> name = arguments.ExpectName("an upstream name or DEFAULT");
    if (!name.ok()) co_return name.status();
    target = *name;
  }
  const bool force = arguments.AcceptKeyword("FORCE");
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;

  auto config = context.services.config.Current();
  // A database without a route has nothing to switch from: its sessions
  // are refused before a route is looked at.
  if (*database == "*" || config->UpstreamFor(*database) == nullptr) {
    co_return protocol::ErrorWithSqlState(
        sqlstate::kInvalidCatalogName,
        *database == "*" ? std::string("SWITCH takes one database's name, not \"*\"")
                         : fmt::format("pgvalve has no route for database \"{}\"", *database));
  }
  if (target) {
    absl::StatusOr<const config::UpstreamConfig*> upstream = FindUpstream(*config, *target);
    if (!upstream.ok()) co_return upstream.status();
    if (!force) {
      if (absl::Status writable = co_await CheckWritable(
              context, **upstream, fmt::format("SWITCH {} TO {} FORCE switches anyway.", *database, *target));
          !writable.ok()) {
        co_return writable;
      }
    }
  }
  // A session held before it connected (PAUSE) has no server yet: it
  // goes wherever the route points when it is released.
  size_t staying = 0;
  for (const auto& session : SessionsOf(context.services.sessions, *database)) {
    if (session->state() != proxy::SessionState::kHeld || session->backend_pid() != 0) ++staying;
  }
  if (absl::Status allowed = CheckStateChange(context.services); !allowed.ok()) co_return allowed;
  absl::Status switched = co_await SwitchRoute(context, *database, target, CallerName(context.caller));
  if (!switched.ok()) co_return switched;
  if (staying > 0) {
    co_await context.notices.Notice(
        fmt::format("{} session(s) of {} stay on the upstream they are on", staying, *database),
        "SHOW CLIENTS shows each session's upstream; DRAIN or TERMINATE moves them.");
  }
  co_return CommandResult{std::nullopt, "SWITCH"};
}

}  // namespace pgvalve::admin
