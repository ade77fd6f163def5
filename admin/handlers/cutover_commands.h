#pragma once
// CUTOVER (admin/jobs/cutover_job.h), SHOW CUTOVERS, SHOW CUTOVER id,
// CANCEL CUTOVER id.

#include "admin/commands/argument_cursor.h"
#include "admin/commands/command_context.h"

namespace pgvalve::admin {

Awaitable<absl::StatusOr<CommandResult>> Cutover(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> ShowCutovers(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> ShowCutover(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> CancelCutover(CommandContext& context, ArgumentCursor& arguments);

}  // namespace pgvalve::admin
