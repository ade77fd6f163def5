#pragma once
// The sessions a command names: a target, then a filter, then options.
//
//   id | BACKEND pid | DATABASE db | ALL
//   [filter clauses, see session_filter.h] [INCLUDING DIRECT] [DRY RUN]
//
// Shared by SHOW CLIENTS, CANCEL, TERMINATE and KILL so that they pick
// sessions alike, and a DRY RUN lists exactly what the real command hits.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "admin/commands/argument_cursor.h"
#include "admin/commands/session_filter.h"
#include "proxy/session_record.h"
#include "proxy/session_registry.h"

namespace pgvalve::admin {

struct SelectedSession {
  std::shared_ptr<proxy::SessionRecord> record;
  proxy::SessionSnapshot snapshot;  // as it matched
};

struct SessionSelection {
  std::vector<SelectedSession> sessions;  // ordered by client id
  std::optional<std::string> database;    // DATABASE db
  bool all = false;                       // ALL, or no target where that is allowed
  SessionFilter filter;
  bool including_direct = false;
  bool dry_run = false;
  proxy::WallClock::time_point now;  // when the filter was evaluated

  // DATABASE db or ALL: the target is a set that the filter narrows.
  bool many() const { return database.has_value() || all; }
};

struct SelectionSyntax {
  bool target_optional = false;  // SHOW CLIENTS: no target means ALL
  bool including_direct = false;
  bool dry_run = false;
};

absl::StatusOr<SessionSelection> ParseSessionSelection(const proxy::SessionRegistry& registry,
                                                       ArgumentCursor& arguments,
                                                       SelectionSyntax syntax);

// Whether the session still matches, now: an action re-checks just before
// it acts, since the snapshot may be seconds old (a DRY RUN's listing, a
// slow control connection).
bool StillMatches(const SessionSelection& selection, const SelectedSession& session);

}  // namespace pgvalve::admin
