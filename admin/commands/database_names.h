#pragma once
// Which database names pgvalve knows, for commands that act on a database
// by name (DISABLE, PAUSE, RESUME, SET db.limit): a name it does not know is most
// likely a typo, and acting on it would report success while nothing the
// operator meant changes.

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "admin/commands/command_context.h"

namespace pgvalve::admin {

// A [databases."name"] route, a live session, a gate (pgvalve admitted a
// session for it, or an operator acted on it) or a limit set with SET.
// "*" is not a database name.
bool IsKnownDatabase(CommandContext& context, const std::string& database);

// 3D000, as PostgreSQL says of a database that does not exist, with a
// "did you mean" for a name that differs only in case, and
// `override_hint` (how to act on it anyway) when not empty.
absl::Status UnknownDatabase(CommandContext& context, const std::string& database,
                             std::string_view override_hint);

// OK when pgvalve knows `database` or the operator said FORCE; otherwise
// UnknownDatabase.
absl::Status RequireKnownDatabase(CommandContext& context, const std::string& database, bool force,
                                  std::string_view override_hint);

}  // namespace pgvalve::admin
