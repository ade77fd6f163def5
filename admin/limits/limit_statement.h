#pragma once
// The arguments of SET and RESET on the admin console, which set a
// database's limits at runtime:
//   SET db.limit = 'duration' [EXCEPT USER u [, ...]] [FORCE]
//   SET db.limit TO 'duration' ...
//   RESET db.limit
//   RESET db.ALL
// db is a name ("My DB" quoted, "*" for every database without a value of
// its own); a duration is '10min', 30s, '1.5 h', or 0 (off). Syntax errors
// are 42601 saying what was expected, an unknown limit 42704, a value out
// of range 22023. Pure: what the names refer to is the handler's business.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "admin/commands/argument_cursor.h"
#include "config/limits.h"

namespace pgvalve::admin {

struct SetLimitStatement {
  std::string database;
  config::Limit limit = config::Limit::kQueryTimeout;
  config::LimitSetting setting;
  // Set it on a database pgvalve does not know.
  bool force = false;
};
absl::StatusOr<SetLimitStatement> ParseSetLimit(ArgumentCursor& arguments);

struct ResetLimitStatement {
  std::string database;
  std::optional<config::Limit> limit;  // nullopt: ALL
};
absl::StatusOr<ResetLimitStatement> ParseResetLimit(ArgumentCursor& arguments);

}  // namespace pgvalve::admin
