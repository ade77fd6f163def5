#pragma once
// DRAIN, its DRY RUN, and the job commands SHOW DRAINS, SHOW DRAIN id and
// CANCEL DRAIN id.
//
//   DRAIN db [GRACE d] [THEN CANCEL | THEN TERMINATE | THEN WAIT] [TIMEOUT d]
//            [INCLUDING DIRECT] [EXCEPT ROLE r [, ...]] [NOWAIT] [DRY RUN]
//            [filter clauses, see session_filter.h]

#include "admin/commands/argument_cursor.h"
#include "admin/commands/command_context.h"

namespace pgvalve::admin {

Awaitable<absl::StatusOr<CommandResult>> Drain(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> ShowDrains(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> ShowDrain(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> CancelDrain(CommandContext& context, ArgumentCursor& arguments);

}  // namespace pgvalve::admin
