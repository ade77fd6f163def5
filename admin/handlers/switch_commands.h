#pragma once
// SWITCH: where a database's new sessions go, changed at runtime.

#include "admin/commands/argument_cursor.h"
#include "admin/commands/command_context.h"

namespace pgvalve::admin {

Awaitable<absl::StatusOr<CommandResult>> Switch(CommandContext& context, ArgumentCursor& arguments);

}  // namespace pgvalve::admin
