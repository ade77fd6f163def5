#pragma once
// Which sessions a command acts on, by what they are doing: the clauses
// that follow a target (DATABASE db, ALL) in SHOW CLIENTS, CANCEL,
// TERMINATE, KILL and DRAIN, combined with AND:
//
//   [STATE s [, ...]]
//   [RUNNING LONGER THAN 'd'] [IDLE LONGER THAN 'd']
//   [IN TRANSACTION LONGER THAN 'd'] [CONNECTED LONGER THAN 'd']
//   [USER u [, ...]] [APPLICATION 'pattern'] [CLIENT 'cidr' | CLIENT 'unix']
//   [EXCEPT USER u [, ...]]
//
// One filter has two readings that must agree: on pgvalve's own sessions
// (their records' clocks) and, for INCLUDING DIRECT, on pg_stat_activity
// (query_start, xact_start, state_change, backend_start). Both live here
// so that they cannot drift apart.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "admin/commands/argument_cursor.h"
#include "config/client_network.h"
#include "proxy/session_record.h"

namespace pgvalve::admin {

// The ages a filter can bound, each measured from one of the session's
// clocks; a session the clock does not apply to never matches.
enum class AgeClock {
  kRunning,        // active, since its query began (query_start)
  kIdle,           // idle outside a transaction, since it became idle (state_change)
  kInTransaction,  // in a transaction block or running a statement, since it began (xact_start)
  kConnected,      // since the client connected (backend_start)
};

struct AgeBound {
  AgeClock clock;
  std::chrono::milliseconds longer_than;
};

struct SessionFilter {
  // Empty: any state. 'idle in transaction' also covers the aborted form,
  // as an operator hunting open transactions means both.
  std::vector<proxy::SessionState> states;
  std::vector<AgeBound> ages;
  std::vector<std::string> users;
  // SQL LIKE: % any run of characters, _ one, \ escapes.
  std::optional<std::string> application_pattern;
  std::optional<config::ClientNetwork> client;
  std::vector<std::string> except_users;

  bool empty() const {
    return states.empty() && ages.empty() && users.empty() && !application_pattern && !client &&
           except_users.empty();
  }
};

// Reads filter clauses into `filter`, in any order, until the next token
// begins none. A clause `filter` already has is an error (42601).
absl::Status ParseSessionFilter(ArgumentCursor& arguments, SessionFilter& filter);

bool Matches(const SessionFilter& filter, const proxy::SessionSnapshot& session,
             proxy::WallClock::time_point now);

// How long a session has been in what its state column shows: the query's
// age while active, the transaction's while in one, else the state's.
std::chrono::duration<double> StateAge(const proxy::SessionSnapshot& session,
                                       proxy::WallClock::time_point now);

// SQL LIKE on plain text, as PostgreSQL's LIKE with its default escape.
bool LikeMatches(std::string_view pattern, std::string_view text);

// The filter as a condition on pg_stat_activity, with its values appended
// to `params` as $n placeholders (text, cast in the SQL). False when no row
// of pg_stat_activity can match (STATE held: only pgvalve holds sessions).
bool AppendActivityCondition(const SessionFilter& filter, std::string& sql,
                             std::vector<std::optional<std::string>>& params);

// The same, in the shape upstream/activity_queries.h takes a condition.
inline auto ActivityConditionOf(const SessionFilter& filter) {
  return [&filter](std::string& sql, std::vector<std::optional<std::string>>& params) {
    return AppendActivityCondition(filter, sql, params);
  };
}


}  // namespace pgvalve::admin
