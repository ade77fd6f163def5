#include "admin/jobs/cutover_options.h"

#include <charconv>

#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"

namespace pgvalve::admin {
namespace {

namespace sqlstate = protocol::sqlstate;

absl::Status Repeated(std::string_view option) {
  return protocol::ErrorWithSqlState(sqlstate::kSyntaxError, fmt::format("{} given more than once", option));
}

absl::Status Invalid(std::string message) {
  return protocol::ErrorWithSqlState(sqlstate::kInvalidParameterValue, message);
}

}  // namespace

std::string_view CutoverModeName(CutoverMode mode) {
  switch (mode) {
    case CutoverMode::kPhysical: return "PHYSICAL";
    case CutoverMode::kLogical: return "LOGICAL";
  }
  return "";
}

std::string_view CutoverEscalationName(CutoverEscalation escalation) {
  switch (escalation) {
    case CutoverEscalation::kTerminate: return "TERMINATE";
    case CutoverEscalation::kCancel: return "CANCEL";
  }
  return "";
}

std::optional<uint64_t> ParseByteSize(std::string_view text) {
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  uint64_t number = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc() || end == text.data()) return std::nullopt;
  std::string_view unit(end, text.data() + text.size() - end);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  int shift = 0;
  if (unit.empty() || unit == "B" || unit == "bytes") {
    shift = 0;
  } else if (unit == "kB") {
    shift = 10;
  } else if (unit == "MB") {
    shift = 20;
  } else if (unit == "GB") {
    shift = 30;
  } else if (unit == "TB") {
    shift = 40;
  } else {
    return std::nullopt;
  }
  if (number > (UINT64_MAX >> shift)) return std::nullopt;
  return number << shift;
}

absl::StatusOr<CutoverOptions> ParseCutover(ArgumentCursor& arguments) {
  CutoverOptions options;
  absl::StatusOr<std::string> database = arguments.ExpectName("a database name");
  if (!database.ok()) return database.status();
  options.database = *std::move(database);
  if (absl::Status to = arguments.ExpectKeyword("TO"); !to.ok()) return to;
  absl::StatusOr<std::string> target = arguments.ExpectName("an upstream name");
  if (!target.ok()) return target.status();
  options.target = *std::move(target);

  bool mode = false, max_lag = false, grace = false, then = false, timeout = false, on_timeout = false;
  while (!arguments.AtEnd()) {
    if (arguments.AcceptKeyword("MODE")) {
      if (mode) return Repeated("MODE");
      mode = true;
      if (arguments.AcceptKeyword("PHYSICAL")) {
        options.mode = CutoverMode::kPhysical;
      } else if (arguments.AcceptKeyword("LOGICAL")) {
        options.mode = CutoverMode::kLogical;
      } else {
        return arguments.ExpectKeyword("PHYSICAL or LOGICAL");
      }
    } else if (arguments.AcceptKeyword("PROMOTE")) {
      if (options.promote) return Repeated("PROMOTE");
      options.promote = true;
    } else if (arguments.AcceptKeyword("MAX")) {
      if (absl::Status lag = arguments.ExpectKeyword("LAG"); !lag.ok()) return lag;
      if (max_lag) return Repeated("MAX LAG");
      max_lag = true;
      absl::StatusOr<std::string> text = arguments.ExpectString("a size such as '16MB'");
      if (!text.ok()) return text.status();
      std::optional<uint64_t> bytes = ParseByteSize(*text);
      if (!bytes) return Invalid(fmt::format("invalid size \"{}\": use bytes or kB, MB, GB, TB", *text));
      options.max_lag_bytes = *bytes;
    } else if (arguments.AcceptKeyword("GRACE")) {
      if (grace) return Repeated("GRACE");
      grace = true;
      absl::StatusOr<std::chrono::milliseconds> value = arguments.ExpectDuration("a duration such as '5s'");
      if (!value.ok()) return value.status();
      options.grace = *value;
    } else if (arguments.AcceptKeyword("THEN")) {
      if (then) return Repeated("THEN");
      then = true;
      if (arguments.AcceptKeyword("CANCEL")) {
        options.escalation = CutoverEscalation::kCancel;
      } else if (arguments.AcceptKeyword("TERMINATE")) {
        options.escalation = CutoverEscalation::kTerminate;
      } else {
        return arguments.ExpectKeyword("CANCEL or TERMINATE");
      }
    } else if (arguments.AcceptKeyword("TIMEOUT")) {
      if (timeout) return Repeated("TIMEOUT");
      timeout = true;
      absl::StatusOr<std::chrono::milliseconds> value = arguments.ExpectDuration("a duration such as '60s'");
      if (!value.ok()) return value.status();
      options.timeout = *value;
    } else if (arguments.AcceptKeyword("ON")) {
      if (absl::Status keyword = arguments.ExpectKeyword("TIMEOUT"); !keyword.ok()) return keyword;
      if (on_timeout) return Repeated("ON TIMEOUT");
      on_timeout = true;
      if (arguments.AcceptKeyword("ABORT")) {
        options.proceed_on_timeout = false;
      } else if (arguments.AcceptKeyword("PROCEED")) {
        options.proceed_on_timeout = true;
      } else {
        return arguments.ExpectKeyword("ABORT or PROCEED");
      }
    } else if (arguments.AcceptKeyword("SYNC")) {
      if (absl::Status keyword = arguments.ExpectKeyword("SEQUENCES"); !keyword.ok()) return keyword;
      if (options.sync_sequences) return Repeated("SYNC SEQUENCES");
      options.sync_sequences = true;
    } else if (arguments.AcceptKeyword("INCLUDING")) {
      if (absl::Status keyword = arguments.ExpectKeyword("DIRECT"); !keyword.ok()) return keyword;
      if (options.including_direct) return Repeated("INCLUDING DIRECT");
      options.including_direct = true;
    } else if (arguments.AcceptKeyword("NOWAIT")) {
      if (options.nowait) return Repeated("NOWAIT");
      options.nowait = true;
    } else if (arguments.AcceptKeyword("DRY")) {
      if (absl::Status keyword = arguments.ExpectKeyword("RUN"); !keyword.ok()) return keyword;
      if (options.dry_run) return Repeated("DRY RUN");
      options.dry_run = true;
    } else {
      return arguments.ExpectKeyword(
          "MODE, PROMOTE, MAX LAG, GRACE, THEN, TIMEOUT, ON TIMEOUT, SYNC SEQUENCES, INCLUDING DIRECT, "
          "NOWAIT or DRY RUN");
    }
  }
  if (options.database == "*") {
    return protocol::ErrorWithSqlState(sqlstate::kInvalidCatalogName,
                                       "CUTOVER takes one database's name, not \"*\"");
  }
  if (options.promote && options.mode == CutoverMode::kLogical) {
    return Invalid("PROMOTE applies to MODE PHYSICAL: a logical subscriber is already writable");
  }
  if (options.sync_sequences && options.mode == CutoverMode::kPhysical) {
    return Invalid("SYNC SEQUENCES applies to MODE LOGICAL: a physical standby already has them");
  }
  if (options.timeout.count() <= 0) return Invalid("TIMEOUT must be longer than 0");
  return options;
}

}  // namespace pgvalve::admin
