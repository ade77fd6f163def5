#pragma once
// SHOW RULES: the access rules of both listeners, in the order they are
// tried, with how often each has decided.

#include "admin/commands/argument_cursor.h"
#include "admin/commands/command_context.h"

namespace pgvalve::admin {

Awaitable<absl::StatusOr<CommandResult>> ShowRules(CommandContext& context, ArgumentCursor& arguments);

}  // namespace pgvalve::admin
