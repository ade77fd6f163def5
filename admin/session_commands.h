#pragma once
// CANCEL, TERMINATE, KILL: acting on sessions and their backends.
//
// Targets: a client id, BACKEND pid (a pgvalve session's backend), or
// DATABASE db (every session on it).

#include "admin/argument_cursor.h"
#include "admin/command_context.h"

namespace pgvalve::admin {

Awaitable<absl::StatusOr<CommandResult>> Cancel(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> Terminate(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> Kill(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> KillClient(CommandContext& context, ArgumentCursor& arguments);

}  // namespace pgvalve::admin
