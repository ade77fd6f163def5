#pragma once
// SHOW FLEET: the instances of this fleet, as etcd lists them.

#include "absl/status/statusor.h"
#include "admin/commands/argument_cursor.h"
#include "admin/commands/command_context.h"

namespace pgvalve::admin {

Awaitable<absl::StatusOr<CommandResult>> ShowFleet(CommandContext& context, ArgumentCursor& arguments);

}  // namespace pgvalve::admin
