#pragma once
// RELOAD and SHUTDOWN: the process as a whole.

#include "admin/commands/argument_cursor.h"
#include "admin/commands/command_context.h"

namespace pgvalve::admin {

Awaitable<absl::StatusOr<CommandResult>> Reload(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> Shutdown(CommandContext& context, ArgumentCursor& arguments);

}  // namespace pgvalve::admin
