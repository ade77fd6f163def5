#include "admin/commands/session_selection.h"

#include <limits>

#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"

namespace pgvalve::admin {
namespace {

namespace sqlstate = protocol::sqlstate;
using proxy::SessionRecord;

// id | BACKEND pid: one session, which must exist.
absl::StatusOr<std::shared_ptr<SessionRecord>> ParseOneSession(const proxy::SessionRegistry& registry,
                                                               ArgumentCursor& arguments) {
  const bool by_backend = arguments.AcceptKeyword("BACKEND");
  absl::StatusOr<int64_t> number = arguments.ExpectInteger(
      by_backend ? "a backend pid" : "a client id, BACKEND pid, DATABASE db or ALL");
  if (!number.ok()) return number.status();
  // A pid is an int4; anything outside must not wrap onto a real pid.
  if (*number <= 0 || (by_backend && *number > std::numeric_limits<int32_t>::max())) {
    return protocol::ErrorWithSqlState(
        sqlstate::kInvalidParameterValue,
        fmt::format("{} {} is out of range", by_backend ? "backend pid" : "client id", *number));
  }
  std::shared_ptr<SessionRecord> record = by_backend
                                              ? registry.FindByBackendPid(static_cast<int32_t>(*number))
                                              : registry.Find(static_cast<uint64_t>(*number));
  if (!record) {
    return protocol::ErrorWithSqlState(
        sqlstate::kUndefinedObject, by_backend
                                        ? fmt::format("no pgvalve session has backend pid {}", *number)
                                        : fmt::format("no client session with id {}", *number));
  }
  return record;
}

absl::Status Repeated(std::string_view option) {
  return protocol::ErrorWithSqlState(sqlstate::kSyntaxError,
                                     fmt::format("{} is given more than once", option));
}

}  // namespace

absl::StatusOr<SessionSelection> ParseSessionSelection(const proxy::SessionRegistry& registry,
                                                       ArgumentCursor& arguments,
                                                       SelectionSyntax syntax) {
  SessionSelection selection;
  std::vector<std::shared_ptr<SessionRecord>> candidates;
  if (arguments.AcceptKeyword("DATABASE")) {
    absl::StatusOr<std::string> database = arguments.ExpectName("a database name");
    if (!database.ok()) return database.status();
    selection.database = *std::move(database);
  } else if (arguments.AcceptKeyword("ALL") ||
             (syntax.target_optional && !arguments.PeekIsNumber() &&
              !arguments.PeekKeyword("BACKEND"))) {
    selection.all = true;
  } else {
    absl::StatusOr<std::shared_ptr<SessionRecord>> one = ParseOneSession(registry, arguments);
    if (!one.ok()) return one.status();
    candidates.push_back(*std::move(one));
  }

  // Filter clauses and options in any order.
  while (true) {
    const size_t before = arguments.position();
    if (absl::Status filter = ParseSessionFilter(arguments, selection.filter); !filter.ok()) {
      return filter;
    }
    if (syntax.including_direct && arguments.AcceptKeyword("INCLUDING")) {
      if (absl::Status direct = arguments.ExpectKeyword("DIRECT"); !direct.ok()) return direct;
      if (!selection.database) {
        return protocol::ErrorWithSqlState(sqlstate::kSyntaxError,
                                           "INCLUDING DIRECT applies to a DATABASE db target");
      }
      if (selection.including_direct) return Repeated("INCLUDING DIRECT");
      selection.including_direct = true;
    } else if (syntax.dry_run && arguments.AcceptKeyword("DRY")) {
      if (absl::Status run = arguments.ExpectKeyword("RUN"); !run.ok()) return run;
      if (selection.dry_run) return Repeated("DRY RUN");
      selection.dry_run = true;
    }
    if (arguments.position() == before) break;
  }
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) return end;

  if (selection.many()) {
    for (auto& record : registry.All()) {
      if (!selection.database || record->identity().database == *selection.database) {
        candidates.push_back(std::move(record));
      }
    }
  }
  selection.now = proxy::WallClock::now();
  for (auto& record : candidates) {
    proxy::SessionSnapshot snapshot = record->Snapshot();
    if (!Matches(selection.filter, snapshot, selection.now)) continue;
    selection.sessions.push_back(SelectedSession{std::move(record), std::move(snapshot)});
  }
  return selection;
}

bool StillMatches(const SessionSelection& selection, const SelectedSession& session) {
  if (session.record->end()) return false;
  return Matches(selection.filter, session.record->Snapshot(), proxy::WallClock::now());
}

}  // namespace pgvalve::admin
