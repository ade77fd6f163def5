#pragma once
// DISABLE, ENABLE, PAUSE, RESUME: a database's admission and flow; DISABLE
// ALL and ENABLE ALL: every database's admission at once.

#include "admin/commands/argument_cursor.h"
#include "admin/commands/command_context.h"

namespace pgvalve::admin {

Awaitable<absl::StatusOr<CommandResult>> Disable(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> Enable(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> DisableAll(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> EnableAll(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> Pause(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> Resume(CommandContext& context, ArgumentCursor& arguments);

}  // namespace pgvalve::admin
