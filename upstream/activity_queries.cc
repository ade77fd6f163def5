#include "upstream/activity_queries.h"

#include "fmt/format.h"
#include "upstream/backend_signals.h"

namespace pgvalve::upstream {
namespace {

// PostgreSQL 10 added backend_type, 13 leader_pid.
constexpr int kBackendTypeVersion = 100000;
constexpr int kLeaderPidVersion = 130000;

std::string TextOrEmpty(const std::optional<std::string>& value) { return value ? *value : std::string(); }

int32_t ParsePid(const std::optional<std::string>& text) {
  return text ? static_cast<int32_t>(std::stol(*text)) : 0;
}

}  // namespace

std::string ClientBackendsOnly(const ControlConnection& control) {
  std::string sql = " AND pid <> pg_backend_pid()";
  if (control.server_version() >= kBackendTypeVersion) sql += " AND backend_type = 'client backend'";
  if (control.server_version() >= kLeaderPidVersion) sql += " AND leader_pid IS NULL";
  return sql;
}

proxy::Awaitable<absl::StatusOr<std::vector<ClientBackendRow>>> FindDirectClientBackends(
    ControlConnection& control, const std::string& database, const std::vector<int32_t>& excluded,
    ActivityCondition condition, uint32_t query_text_length) {
  if (absl::Status connected = co_await control.EnsureConnected(); !connected.ok()) co_return connected;
  std::vector<std::optional<std::string>> params = {database, IntArrayLiteral(excluded),
                                                    std::to_string(query_text_length)};
  std::string sql = fmt::format(
      "SELECT pid, usename, application_name, "
      "CASE WHEN client_port = -1 THEN 'unix' ELSE host(client_addr) END, state, {}, left(query, $3::int) "
      "FROM pg_stat_activity WHERE datname = $1 AND NOT (pid = ANY($2::int[])){}",
      kActivityStateAgeSql, ClientBackendsOnly(control));
  if (!condition(sql, params)) co_return std::vector<ClientBackendRow>{};
  absl::StatusOr<QueryResult> found = co_await control.Query(sql + " ORDER BY pid", std::move(params));
  if (!found.ok()) co_return found.status();
  std::vector<ClientBackendRow> rows;
  for (const auto& row : found->rows) {
    rows.push_back(ClientBackendRow{.pid = ParsePid(row[0]),
                                    .user = TextOrEmpty(row[1]),
                                    .application_name = TextOrEmpty(row[2]),
                                    .client_addr = TextOrEmpty(row[3]),
                                    .state = TextOrEmpty(row[4]),
                                    .state_seconds = row[5] ? std::stod(*row[5]) : 0,
                                    .query = row[6]});
  }
  co_return rows;
}

proxy::Awaitable<absl::StatusOr<std::map<int32_t, std::string>>> QueryTexts(
    ControlConnection& control, const std::vector<int32_t>& pids, uint32_t query_text_length) {
  std::map<int32_t, std::string> texts;
  if (pids.empty()) co_return texts;
  if (absl::Status connected = co_await control.EnsureConnected(); !connected.ok()) co_return connected;
  std::vector<std::optional<std::string>> params = {IntArrayLiteral(pids),
                                                    std::to_string(query_text_length)};
  absl::StatusOr<QueryResult> found = co_await control.Query(
      "SELECT pid, left(query, $2::int) FROM pg_stat_activity WHERE pid = ANY($1::int[])",
      std::move(params));
  if (!found.ok()) co_return found.status();
  for (const auto& row : found->rows) texts[ParsePid(row[0])] = TextOrEmpty(row[1]);
  co_return texts;
}

proxy::Awaitable<absl::StatusOr<std::map<int32_t, RunningQuery>>> RunningQueries(
    ControlConnection& control, const std::vector<int32_t>& pids) {
  std::map<int32_t, RunningQuery> running;
  if (pids.empty()) co_return running;
  if (absl::Status connected = co_await control.EnsureConnected(); !connected.ok()) co_return connected;
  std::vector<std::optional<std::string>> params = {IntArrayLiteral(pids)};
  absl::StatusOr<QueryResult> found = co_await control.Query(
      "SELECT pid, query_start::text, state = 'active' FROM pg_stat_activity "
      "WHERE pid = ANY($1::int[])",
      std::move(params));
  if (!found.ok()) co_return found.status();
  for (const auto& row : found->rows) {
    running[ParsePid(row[0])] = RunningQuery{TextOrEmpty(row[1]), row[2] && *row[2] == "t"};
  }
  co_return running;
}

proxy::Awaitable<absl::StatusOr<std::vector<DatabaseBackend>>> DatabaseBackends(
    ControlConnection& control, const std::string& database, uint32_t query_text_length) {
  if (absl::Status connected = co_await control.EnsureConnected(); !connected.ok()) co_return connected;
  std::vector<std::optional<std::string>> params = {database, std::to_string(query_text_length)};
  absl::StatusOr<QueryResult> found = co_await control.Query(
      "SELECT pid, usename, application_name, coalesce(state, backend_type), "
      "extract(epoch FROM now() - xact_start)::float8, left(query, $2::int) "
      "FROM pg_stat_activity WHERE datname = $1" + ClientBackendsOnly(control) + " ORDER BY pid",
      std::move(params));
  if (!found.ok()) co_return found.status();
  std::vector<DatabaseBackend> backends;
  for (const auto& row : found->rows) {
    backends.push_back(DatabaseBackend{
        .pid = ParsePid(row[0]),
        .user = TextOrEmpty(row[1]),
        .application_name = TextOrEmpty(row[2]),
        .state = TextOrEmpty(row[3]),
        .transaction_seconds = row[4] ? std::optional<double>(std::stod(*row[4])) : std::nullopt,
        .query = TextOrEmpty(row[5])});
  }
  co_return backends;
}

proxy::Awaitable<absl::StatusOr<QueryResult>> ActivityOfDatabase(ControlConnection& control,
                                                                 const std::string& database) {
  std::vector<std::optional<std::string>> params = {database};
  co_return co_await control.Query(
      "SELECT pid, usename, application_name, client_addr::text, client_port, backend_type, state, "
      "backend_start::text, xact_start::text, query_start::text, wait_event_type, wait_event, "
      "left(query, 200) FROM pg_stat_activity WHERE datname = $1 ORDER BY pid",
      std::move(params));
}

proxy::Awaitable<absl::StatusOr<std::map<int32_t, int64_t>>> AdvisoryLocksHeld(
    ControlConnection& control, const std::string& database) {
  std::vector<std::optional<std::string>> params = {database};
  absl::StatusOr<QueryResult> found = co_await control.Query(
      "SELECT l.pid, count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
      "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = $1 AND l.pid IS NOT NULL "
      "GROUP BY l.pid",
      std::move(params));
  if (!found.ok()) co_return found.status();
  std::map<int32_t, int64_t> locks;
  for (const auto& row : found->rows) locks[ParsePid(row[0])] = row[1] ? std::stoll(*row[1]) : 0;
  co_return locks;
}

proxy::Awaitable<absl::StatusOr<std::vector<PreparedTransaction>>> PreparedTransactions(
    ControlConnection& control, const std::string& database) {
  std::vector<std::optional<std::string>> params = {database};
  absl::StatusOr<QueryResult> found = co_await control.Query(
      "SELECT gid, owner::text, prepared::text FROM pg_prepared_xacts WHERE database = $1 ORDER BY prepared",
      std::move(params));
  if (!found.ok()) co_return found.status();
  std::vector<PreparedTransaction> prepared;
  for (const auto& row : found->rows) {
    prepared.push_back({TextOrEmpty(row[0]), TextOrEmpty(row[1]), TextOrEmpty(row[2])});
  }
  co_return prepared;
}

}  // namespace pgvalve::upstream
