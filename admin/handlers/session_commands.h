#pragma once
// CANCEL, TERMINATE, KILL: acting on sessions and their backends.
//
// Targets: a client id, BACKEND pid (a pgvalve session's backend),
// DATABASE db or ALL, narrowed by a filter (session_filter.h); CANCEL and
// TERMINATE of a DATABASE also reach backends connected to PostgreSQL
// directly with INCLUDING DIRECT. DRY RUN lists what the command would hit
// and does nothing; the real command reports the same columns with the
// outcome of each: cancelled (the query was seen to end), terminated and
// verified gone from pg_stat_activity, already gone, skipped or failed.

#include "admin/commands/argument_cursor.h"
#include "admin/commands/command_context.h"

namespace pgvalve::admin {

Awaitable<absl::StatusOr<CommandResult>> Cancel(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> Terminate(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> Kill(CommandContext& context, ArgumentCursor& arguments);
Awaitable<absl::StatusOr<CommandResult>> KillClient(CommandContext& context, ArgumentCursor& arguments);

}  // namespace pgvalve::admin
