#pragma once
// What the admin commands read from an upstream's pg_stat_activity about
// client backends, through its control connection. The safety rules of the
// classic hand-written query hold in every one: never the control
// connection's own backend, never a parallel worker, never a background
// process (autovacuum workers, WAL senders and the like carry a datname too).

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "proxy/asio.h"
#include "upstream/control_connection.h"

namespace pgvalve::upstream {

// " AND ..." conditions that keep a pg_stat_activity query to client
// backends other than the control connection's own, for the server the
// control connection is on.
std::string ClientBackendsOnly(const ControlConnection& control);

// How long a pg_stat_activity row has been in what its state column shows,
// as a SQL expression in seconds: the query's age while active, the
// transaction's while in one, else the state's (pgvalve's StateAge for its
// own sessions says the same).
inline constexpr std::string_view kActivityStateAgeSql =
    "extract(epoch FROM now() - CASE WHEN state = 'active' THEN query_start "
    "WHEN xact_start IS NOT NULL THEN xact_start ELSE state_change END)";

// Narrows a pg_stat_activity query: appends " AND ..." to `sql` with its
// values added to `params` as further $n placeholders. False when no row
// can match, and the query is not sent.
using ActivityCondition =
    absl::FunctionRef<bool(std::string& sql, std::vector<std::optional<std::string>>& params)>;

// One client backend as pg_stat_activity shows it.
struct ClientBackendRow {
  int32_t pid = 0;
  std::string user;
  std::string application_name;
  std::string client_addr;  // "unix" for a unix-socket client
  std::string state;
  double state_seconds = 0;  // see kActivityStateAgeSql
  std::optional<std::string> query;  // the first query_text_length characters
};

// Client backends on `database` that are not in `excluded` (pgvalve's own
// sessions, handled through their records) and meet `condition`.
proxy::Awaitable<absl::StatusOr<std::vector<ClientBackendRow>>> FindDirectClientBackends(
    ControlConnection& control, const std::string& database, const std::vector<int32_t>& excluded,
    ActivityCondition condition, uint32_t query_text_length);

// The start of the current (or last) query of each pid still present.
proxy::Awaitable<absl::StatusOr<std::map<int32_t, std::string>>> QueryTexts(
    ControlConnection& control, const std::vector<int32_t>& pids, uint32_t query_text_length);

// For each pid, the moment its current query began and whether it is still
// running it ('active'); a pid missing from the map has ended. Used to see
// whether a cancel took effect.
struct RunningQuery {
  std::string query_start;  // as text: compared, never computed with
  bool active = false;
};
proxy::Awaitable<absl::StatusOr<std::map<int32_t, RunningQuery>>> RunningQueries(
    ControlConnection& control, const std::vector<int32_t>& pids);

// Every client backend on `database` (the control connection's own,
// parallel workers and background processes left out), whatever its state:
// what DRAIN verifies against and its DRY RUN shows.
struct DatabaseBackend {
  int32_t pid = 0;
  std::string user;
  std::string application_name;
  std::string state;  // pg_stat_activity.state, else the backend type
  std::optional<double> transaction_seconds;  // open transaction's age
  std::string query;  // the first query_text_length characters
};
proxy::Awaitable<absl::StatusOr<std::vector<DatabaseBackend>>> DatabaseBackends(
    ControlConnection& control, const std::string& database, uint32_t query_text_length);

// Every row of pg_stat_activity on `database`, background processes too,
// with the columns SHOW BACKENDS prints under their own names.
proxy::Awaitable<absl::StatusOr<QueryResult>> ActivityOfDatabase(ControlConnection& control,
                                                                 const std::string& database);

// Advisory locks granted on `database`, counted by pid: a session holding
// one cannot move to another server without losing it.
proxy::Awaitable<absl::StatusOr<std::map<int32_t, int64_t>>> AdvisoryLocksHeld(
    ControlConnection& control, const std::string& database);

// Prepared transactions (PREPARE TRANSACTION) waiting on `database`.
struct PreparedTransaction {
  std::string gid;
  std::string owner;
  std::string prepared;  // when, as text
};
proxy::Awaitable<absl::StatusOr<std::vector<PreparedTransaction>>> PreparedTransactions(
    ControlConnection& control, const std::string& database);

// Asked inside a pgvalve session (through the relay's probe, not the
// control connection): only the session itself can see its temporary
// tables and LISTEN channels. Two columns, each a comma-separated list or
// NULL. Schema-qualified, so the session's search_path cannot change what
// runs.
inline constexpr std::string_view kSessionHoldsProbe =
    "SELECT (SELECT pg_catalog.string_agg(c.relname::text, ', ' ORDER BY c.relname) "
    "FROM pg_catalog.pg_class c WHERE c.relnamespace = pg_catalog.pg_my_temp_schema()), "
    "(SELECT pg_catalog.string_agg(l.channel, ', ' ORDER BY l.channel) "
    "FROM pg_catalog.pg_listening_channels() AS l(channel))";

}  // namespace pgvalve::upstream
