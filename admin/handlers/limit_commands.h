#pragma once
// SET db.limit, RESET db.limit and SHOW LIMITS: per-database limits at
// runtime (see limit_statement.h for the syntax, limit_enforcer.h for what
// the limits do).

#include "admin/commands/argument_cursor.h"
#include "admin/commands/command_context.h"

namespace pgvalve::admin {

Awaitable<absl::StatusOr<CommandResult>> SetLimit(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> ResetLimit(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> ShowLimits(CommandContext& context, ArgumentCursor& arguments);

}  // namespace pgvalve::admin
