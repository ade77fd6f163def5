#include "admin/limits/limit_statement.h"

#include "config/validate.h"
#include "config/value_text.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"

namespace pgvalve::admin {
namespace {

using config::Limit;
namespace sqlstate = protocol::sqlstate;

constexpr std::string_view kTarget = "db.limit, such as app.query_timeout or \"*\".query_timeout";
constexpr std::string_view kValue = "a duration such as '10min', or 0 to turn the limit off";

absl::Status UnknownLimit(std::string_view name) {
  std::string known;
  for (Limit limit : config::kAllLimits) {
    known += fmt::format("{}{}", known.empty() ? "" : ", ", config::LimitName(limit));
  }
  return protocol::WithDetail(
      protocol::ErrorWithSqlState(sqlstate::kUndefinedObject,
                                  fmt::format("unrecognized limit \"{}\"", name)),
      fmt::format("pgvalve's limits are {}.", known));
}

absl::Status InvalidValue(std::string message) {
  return protocol::ErrorWithSqlState(sqlstate::kInvalidParameterValue, std::move(message));
}

// 0, '0', or a duration with a unit.
absl::StatusOr<std::chrono::milliseconds> ExpectLimitValue(ArgumentCursor& arguments) {
  const Token* next = arguments.Peek();
  if (next != nullptr && next->text == "0" &&
      (next->kind == TokenKind::kNumber || next->kind == TokenKind::kString)) {
    arguments.AcceptToken(next->kind);
    return std::chrono::milliseconds(0);
  }
  if (next != nullptr && next->kind == TokenKind::kNumber) {
    // A bare number would be read as milliseconds by some and seconds by
    // others; PostgreSQL's own settings disagree among themselves too.
    return protocol::ErrorWithSqlState(
        sqlstate::kSyntaxError,
        fmt::format("expected {}, found \"{}\" without a unit", kValue, next->text));
  }
  return arguments.ExpectDuration(kValue);
}

absl::Status CheckRange(Limit limit, std::chrono::milliseconds value) {
  if (limit == Limit::kQueryTimeoutGrace && value.count() == 0) {
    return InvalidValue(
        "query_timeout_grace must be positive: it is how long a cancelled query may run on "
        "before its backend is terminated");
  }
  if (value > config::kMaxDuration) {
    return InvalidValue(fmt::format("{} must be at most {}, got {}", config::LimitName(limit),
                                    config::FormatDuration(config::kMaxDuration),
                                    config::FormatDuration(value)));
  }
  return absl::OkStatus();
}

struct Target {
  std::string database;
  std::optional<Limit> limit;  // nullopt: ALL
};

absl::StatusOr<Target> ExpectTarget(ArgumentCursor& arguments, bool all_allowed) {
  absl::StatusOr<ArgumentCursor::QualifiedName> name = arguments.ExpectQualifiedName(kTarget);
  if (!name.ok()) return name.status();
  if (all_allowed && name->name == "all") return Target{std::move(name->qualifier), std::nullopt};
  std::optional<Limit> limit = config::ParseLimitName(name->name);
  if (!limit) return UnknownLimit(name->name);
  return Target{std::move(name->qualifier), *limit};
}

}  // namespace

absl::StatusOr<SetLimitStatement> ParseSetLimit(ArgumentCursor& arguments) {
  absl::StatusOr<Target> target = ExpectTarget(arguments, /*all_allowed=*/false);
  if (!target.ok()) return target.status();
  SetLimitStatement statement{.database = std::move(target->database), .limit = *target->limit};
  if (!arguments.AcceptToken(TokenKind::kEquals) && !arguments.AcceptKeyword("TO")) {
    return arguments.ExpectKeyword("= or TO");
  }
  absl::StatusOr<std::chrono::milliseconds> value = ExpectLimitValue(arguments);
  if (!value.ok()) return value.status();
  if (absl::Status range = CheckRange(statement.limit, *value); !range.ok()) return range;
  statement.setting.value = *value;
  if (arguments.AcceptKeyword("EXCEPT")) {
    if (!config::TakesExceptions(statement.limit)) {
      return protocol::ErrorWithSqlState(
          sqlstate::kSyntaxError,
          fmt::format("{} takes no EXCEPT USER list: query_timeout's exceptions apply to it",
                      config::LimitName(statement.limit)));
    }
    if (absl::Status user = arguments.ExpectKeyword("USER"); !user.ok()) return user;
    absl::StatusOr<std::vector<std::string>> users = arguments.ExpectNameList("a user name");
    if (!users.ok()) return users.status();
    statement.setting.except_users = *std::move(users);
  }
  statement.force = arguments.AcceptKeyword("FORCE");
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) return end;
  return statement;
}

absl::StatusOr<ResetLimitStatement> ParseResetLimit(ArgumentCursor& arguments) {
  absl::StatusOr<Target> target = ExpectTarget(arguments, /*all_allowed=*/true);
  if (!target.ok()) return target.status();
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) return end;
  return ResetLimitStatement{std::move(target->database), target->limit};
}

}  // namespace pgvalve::admin
