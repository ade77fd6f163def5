#pragma once
// RELOAD, SHUTDOWN and the log level: the process as a whole.

#include "admin/commands/argument_cursor.h"
#include "admin/commands/command_context.h"

namespace pgvalve::admin {

Awaitable<absl::StatusOr<CommandResult>> Reload(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> Shutdown(CommandContext& context, ArgumentCursor& arguments);
// SET LOG_LEVEL [= | TO] level: from now until RESET LOG_LEVEL or a
// restart (a RELOAD leaves it); RESET LOG_LEVEL returns to the
// configuration's log_level.
Awaitable<absl::StatusOr<CommandResult>> SetLogLevel(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> ResetLogLevel(CommandContext& context, ArgumentCursor& arguments);

}  // namespace pgvalve::admin
