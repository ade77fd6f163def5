#include "admin/commands/session_filter.h"

#include <algorithm>

#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"

namespace pgvalve::admin {
namespace {

namespace sqlstate = protocol::sqlstate;
using proxy::SessionState;

absl::Status Repeated(std::string_view clause) {
  return protocol::ErrorWithSqlState(sqlstate::kSyntaxError,
                                     fmt::format("{} is given more than once", clause));
}

// The states STATE accepts, by the names SHOW CLIENTS prints.
absl::StatusOr<std::vector<SessionState>> StatesNamed(std::string_view name) {
  if (name == "idle in transaction") {
    return std::vector<SessionState>{SessionState::kIdleInTransaction,
                                     SessionState::kIdleInFailedTransaction};
  }
  for (SessionState state : {SessionState::kStarting, SessionState::kIdle, SessionState::kActive,
                             SessionState::kIdleInFailedTransaction, SessionState::kHeld}) {
    if (name == proxy::SessionStateName(state)) return std::vector<SessionState>{state};
  }
  return protocol::ErrorWithSqlState(
      sqlstate::kInvalidParameterValue,
      fmt::format("unknown session state \"{}\"; states are active, idle, 'idle in transaction', "
                  "'idle in transaction (aborted)', held and starting",
                  name));
}

absl::Status ParseStates(ArgumentCursor& arguments, SessionFilter& filter) {
  do {
    absl::StatusOr<std::string> name = arguments.ExpectText("a session state");
    if (!name.ok()) return name.status();
    absl::StatusOr<std::vector<SessionState>> states = StatesNamed(*name);
    if (!states.ok()) return states.status();
    for (SessionState state : *states) {
      if (std::find(filter.states.begin(), filter.states.end(), state) == filter.states.end()) {
        filter.states.push_back(state);
      }
    }
  } while (arguments.AcceptComma());
  return absl::OkStatus();
}

absl::Status ParseAge(ArgumentCursor& arguments, AgeClock clock, std::string_view clause,
                      SessionFilter& filter) {
  for (const AgeBound& age : filter.ages) {
    if (age.clock == clock) return Repeated(clause);
  }
  if (absl::Status longer = arguments.ExpectKeyword("LONGER"); !longer.ok()) return longer;
  if (absl::Status than = arguments.ExpectKeyword("THAN"); !than.ok()) return than;
  absl::StatusOr<std::chrono::milliseconds> duration =
      arguments.ExpectDuration("a duration such as '10min'");
  if (!duration.ok()) return duration.status();
  filter.ages.push_back(AgeBound{clock, *duration});
  return absl::OkStatus();
}

absl::Status ParseUsers(ArgumentCursor& arguments, std::vector<std::string>& users,
                        std::string_view clause) {
  if (!users.empty()) return Repeated(clause);
  absl::StatusOr<std::vector<std::string>> names = arguments.ExpectNameList("a user name");
  if (!names.ok()) return names.status();
  users = *std::move(names);
  return absl::OkStatus();
}

// The clock an age bound reads, or nullopt when it does not apply to the
// session's state.
std::optional<proxy::WallClock::time_point> ClockStart(AgeClock clock,
                                                       const proxy::SessionSnapshot& session) {
  switch (clock) {
    case AgeClock::kRunning:
      if (session.state != SessionState::kActive) return std::nullopt;
      return session.query_start;
    case AgeClock::kIdle:
      if (session.state != SessionState::kIdle) return std::nullopt;
      return session.state_since;
    case AgeClock::kInTransaction:
      if (session.state != SessionState::kActive &&
          session.state != SessionState::kIdleInTransaction &&
          session.state != SessionState::kIdleInFailedTransaction) {
        return std::nullopt;
      }
      return session.transaction_start;
    case AgeClock::kConnected:
      return session.identity.connected_at;
  }
  return std::nullopt;
}

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The length of the UTF-8 character `text` starts with (1 for a stray byte).
size_t CharacterLength(std::string_view text) {
  size_t length = 1;
  while (length < text.size() && (static_cast<unsigned char>(text[length]) & 0xC0) == 0x80) {
    ++length;
  }
  return length;
}

// A text[] literal: {"a","b"} with quotes and backslashes escaped.
std::string TextArrayLiteral(const std::vector<std::string>& values) {
  std::string literal = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    literal += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  return literal + "}";
}

std::string_view ActivityStateName(SessionState state) {
  switch (state) {
    case SessionState::kIdle: return "idle";
    case SessionState::kActive: return "active";
    case SessionState::kIdleInTransaction: return "idle in transaction";
    case SessionState::kIdleInFailedTransaction: return "idle in transaction (aborted)";
    case SessionState::kStarting:
    case SessionState::kHeld: return {};
  }
  return {};
}

}  // namespace

absl::Status ParseSessionFilter(ArgumentCursor& arguments, SessionFilter& filter) {
  while (true) {
    absl::Status clause = absl::OkStatus();
    if (arguments.AcceptKeyword("STATE")) {
      if (!filter.states.empty()) return Repeated("STATE");
      clause = ParseStates(arguments, filter);
    } else if (arguments.AcceptKeyword("RUNNING")) {
      clause = ParseAge(arguments, AgeClock::kRunning, "RUNNING LONGER THAN", filter);
    } else if (arguments.AcceptKeyword("IDLE")) {
      clause = ParseAge(arguments, AgeClock::kIdle, "IDLE LONGER THAN", filter);
    } else if (arguments.PeekKeyword("IN") && arguments.PeekKeyword("TRANSACTION", 1)) {
      arguments.AcceptKeyword("IN");
      arguments.AcceptKeyword("TRANSACTION");
      clause = ParseAge(arguments, AgeClock::kInTransaction, "IN TRANSACTION LONGER THAN", filter);
    } else if (arguments.AcceptKeyword("CONNECTED")) {
      clause = ParseAge(arguments, AgeClock::kConnected, "CONNECTED LONGER THAN", filter);
    } else if (arguments.AcceptKeyword("USER")) {
      clause = ParseUsers(arguments, filter.users, "USER");
    } else if (arguments.AcceptKeyword("APPLICATION")) {
      if (filter.application_pattern) return Repeated("APPLICATION");
      absl::StatusOr<std::string> pattern =
          arguments.ExpectString("an application_name pattern in quotes, e.g. 'batch%'");
      if (!pattern.ok()) return pattern.status();
      filter.application_pattern = *std::move(pattern);
    } else if (arguments.AcceptKeyword("CLIENT")) {
      if (filter.client) return Repeated("CLIENT");
      absl::StatusOr<std::string> text =
          arguments.ExpectString("a client network in quotes, e.g. '10.0.0.0/8' or 'unix'");
      if (!text.ok()) return text.status();
      absl::StatusOr<config::ClientNetwork> network = config::ClientNetwork::Parse(*text);
      if (!network.ok()) return network.status();
      filter.client = *std::move(network);
    } else if (arguments.PeekKeyword("EXCEPT") && arguments.PeekKeyword("USER", 1)) {
      // EXCEPT ROLE is DRAIN's own clause (it also admits those roles).
      arguments.AcceptKeyword("EXCEPT");
      arguments.AcceptKeyword("USER");
      clause = ParseUsers(arguments, filter.except_users, "EXCEPT USER");
    } else {
      return absl::OkStatus();
    }
    if (!clause.ok()) return clause;
  }
}

bool Matches(const SessionFilter& filter, const proxy::SessionSnapshot& session,
             proxy::WallClock::time_point now) {
  if (!filter.states.empty() &&
      std::find(filter.states.begin(), filter.states.end(), session.state) == filter.states.end()) {
    return false;
  }
  for (const AgeBound& age : filter.ages) {
    std::optional<proxy::WallClock::time_point> start = ClockStart(age.clock, session);
    if (!start || now - *start <= age.longer_than) return false;
  }
  if (!filter.users.empty() && !Contains(filter.users, session.identity.user)) return false;
  if (Contains(filter.except_users, session.identity.user)) return false;
  if (filter.application_pattern && !LikeMatches(*filter.application_pattern, session.application_name)) {
    return false;
  }
  if (filter.client && !filter.client->Contains(session.identity.client_address)) return false;
  return true;
}

std::chrono::duration<double> StateAge(const proxy::SessionSnapshot& session,
                                       proxy::WallClock::time_point now) {
  proxy::WallClock::time_point start = session.state_since;
  if (session.state == SessionState::kActive) {
    start = session.query_start;
  } else if (session.state == SessionState::kIdleInTransaction ||
             session.state == SessionState::kIdleInFailedTransaction) {
    start = session.transaction_start;
  } else if (session.state == SessionState::kStarting) {
    start = session.identity.connected_at;
  }
  return std::max(now - start, proxy::WallClock::duration::zero());
}

bool LikeMatches(std::string_view pattern, std::string_view text) {
  // Greedy matching with one backtrack point, the last %: linear in
  // practice, and never recursive whatever an operator types.
  size_t p = 0;
  size_t t = 0;
  std::optional<size_t> star_p;
  size_t star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '%') {
      star_p = ++p;
      star_t = t;
      continue;
    }
    if (p < pattern.size() && pattern[p] == '_') {
      ++p;
      t += CharacterLength(text.substr(t));
      continue;
    }
    if (p < pattern.size()) {
      size_t literal = p;
      if (pattern[p] == '\\' && p + 1 < pattern.size()) literal = p + 1;
      if (pattern[literal] == text[t]) {
        p = literal + 1;
        ++t;
        continue;
      }
    }
    if (!star_p) return false;
    // Let the last % take one more character and try again after it.
    star_t += CharacterLength(text.substr(star_t));
    t = star_t;
    p = *star_p;
  }
  while (p < pattern.size() && pattern[p] == '%') ++p;
  return p == pattern.size();
}

bool AppendActivityCondition(const SessionFilter& filter, std::string& sql,
                             std::vector<std::optional<std::string>>& params) {
  auto param = [&](std::string value) {
    params.emplace_back(std::move(value));
    return fmt::format("${}", params.size());
  };
  if (!filter.states.empty()) {
    std::string names;
    for (SessionState state : filter.states) {
      std::string_view name = ActivityStateName(state);
      if (name.empty()) continue;
      // Our own constants, never operator text: safe to inline.
      names += fmt::format("{}'{}'", names.empty() ? "" : ", ", name);
    }
    if (names.empty()) return false;
    sql += fmt::format(" AND state IN ({})", names);
  }
  for (const AgeBound& age : filter.ages) {
    const std::string interval = param(fmt::format("{} milliseconds", age.longer_than.count()));
    switch (age.clock) {
      case AgeClock::kRunning:
        sql += fmt::format(" AND state = 'active' AND query_start < now() - {}::interval", interval);
        break;
      case AgeClock::kIdle:
        sql += fmt::format(" AND state = 'idle' AND state_change < now() - {}::interval", interval);
        break;
      case AgeClock::kInTransaction:
        sql += fmt::format(" AND xact_start < now() - {}::interval", interval);
        break;
      case AgeClock::kConnected:
        sql += fmt::format(" AND backend_start < now() - {}::interval", interval);
        break;
    }
  }
  if (!filter.users.empty()) {
    sql += fmt::format(" AND usename = ANY({}::text[])", param(TextArrayLiteral(filter.users)));
  }
  if (!filter.except_users.empty()) {
    sql += fmt::format(" AND usename <> ALL({}::text[])", param(TextArrayLiteral(filter.except_users)));
  }
  if (filter.application_pattern) {
    sql += fmt::format(" AND application_name LIKE {}", param(*filter.application_pattern));
  }
  if (filter.client) {
    // A unix-socket client has no address and port -1 in pg_stat_activity.
    if (filter.client->is_unix()) {
      sql += " AND client_port = -1";
    } else {
      sql += fmt::format(" AND client_addr <<= {}::inet", param(filter.client->text()));
    }
  }
  return true;
}

}  // namespace pgvalve::admin
