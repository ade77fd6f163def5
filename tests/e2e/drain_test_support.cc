#include "tests/e2e/drain_test_support.h"

#include <algorithm>
#include <sstream>

namespace pgvalve::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string ErrorField(const PGresult* result, int field) {
  const char* value = PQresultErrorField(result, field);
  return value ? value : "";
}

std::string SqlLiteral(std::string_view text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') quoted.push_back('\'');
    quoted.push_back(c);
  }
  return quoted + "'";
}

std::map<std::string, std::string> RowOf(const ResultTable& table, size_t row) {
  std::map<std::string, std::string> values;
  for (const std::string& column : table.columns()) values[column] = table.Text(row, column);
  return values;
}

}  // namespace

bool DrainedSession::ReceivedFatal(std::string_view sqlstate) const {
  for (const NoticeLog::Notice& notice : notices->notices()) {
    if (notice.severity == "FATAL" && notice.sqlstate == sqlstate) return true;
  }
  return false;
}

std::string DrainedSession::DescribeNotices() const {
  std::string text;
  for (const NoticeLog::Notice& notice : notices->notices()) {
    text += notice.severity + " " + notice.sqlstate + ": " + notice.message + "\n";
  }
  return text.empty() ? "(no notices)" : text;
}

DrainedSession OpenSession(const std::string& conninfo) {
  DrainedSession session;
  session.conn = Connect(conninfo);
  session.notices = std::make_unique<NoticeLog>(session.conn.get());
  session.backend_pid = std::stoi(ScalarString(session.conn.get(), "SELECT pg_backend_pid()"));
  return session;
}

void SendQuery(PGconn* conn, const std::string& sql) {
  if (!PQsendQuery(conn, sql.c_str())) {
    throw PgError("cannot send \"" + sql + "\": " + PQerrorMessage(conn), "");
  }
}

std::optional<QueryOutcome> AwaitOutcome(PGconn* conn, milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  PgResult first_error;
  PgResult last;
  for (;;) {
    while (PQisBusy(conn)) {
      if (!WaitReadable(conn, deadline)) return std::nullopt;
      // On a lost connection PQgetResult below reports it without waiting.
      if (!PQconsumeInput(conn)) break;
    }
    PGresult* next = PQgetResult(conn);
    if (next == nullptr) break;
    PgResult result(next);
    if (PQresultStatus(next) == PGRES_FATAL_ERROR && !first_error) {
      first_error = std::move(result);
    } else {
      last = std::move(result);
    }
    if (PQstatus(conn) == CONNECTION_BAD) break;
  }
  const PgResult& chosen = first_error ? first_error : last;
  QueryOutcome outcome;
  outcome.finished = steady_clock::now();
  if (!chosen) {
    outcome.message = PQerrorMessage(conn);
    return outcome;
  }
  outcome.status = PQresultStatus(chosen.get());
  if (outcome.ok()) {
    outcome.table = ResultTable(chosen.get());
    return outcome;
  }
  outcome.sqlstate = ErrorField(chosen.get(), PG_DIAG_SQLSTATE);
  outcome.message = ErrorField(chosen.get(), PG_DIAG_MESSAGE_PRIMARY);
  outcome.detail = ErrorField(chosen.get(), PG_DIAG_MESSAGE_DETAIL);
  if (outcome.message.empty()) outcome.message = PQresultErrorMessage(chosen.get());
  return outcome;
}

bool AwaitClosed(PGconn* conn, milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  while (PQstatus(conn) == CONNECTION_OK) {
    if (!WaitReadable(conn, deadline)) return false;
    if (!PQconsumeInput(conn)) break;
    while (PGnotify* notify = PQnotifies(conn)) PQfreemem(notify);
  }
  return true;
}

int ActivityCount(PGconn* direct, std::string_view database) {
  return std::stoi(ScalarString(
      direct, "SELECT count(*) FROM pg_stat_activity WHERE datname = " + SqlLiteral(database)));
}

bool WaitForActiveQueries(PGconn* direct, std::string_view database, std::string_view query_prefix,
                          int count) {
  const std::string sql =
      "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND datname = " +
      SqlLiteral(database) + " AND starts_with(query, " + SqlLiteral(query_prefix) + ")";
  return WaitUntil([&] { return std::stoi(ScalarString(direct, sql)) == count; });
}

std::optional<std::map<std::string, std::string>> LatestDrainOf(PGconn* admin,
                                                                std::string_view database) {
  const ResultTable drains = QueryTable(admin, "SHOW DRAINS");
  std::optional<size_t> latest;
  int64_t latest_id = -1;
  for (size_t row = 0; row < drains.size(); ++row) {
    if (drains.Text(row, "database") != database) continue;
    const int64_t id = std::stoll(drains.Text(row, "job_id"));
    if (id > latest_id) {
      latest_id = id;
      latest = row;
    }
  }
  if (!latest) return std::nullopt;
  return RowOf(drains, *latest);
}

std::optional<std::map<std::string, std::string>> DrainById(PGconn* admin, std::string_view job_id) {
  const ResultTable drains = QueryTable(admin, "SHOW DRAINS");
  const std::optional<size_t> row = drains.FindRow("job_id", job_id);
  if (!row) return std::nullopt;
  return RowOf(drains, *row);
}

std::optional<std::map<std::string, std::string>> WaitForDrainPhase(PGconn* admin,
                                                                    std::string_view database,
                                                                    std::string_view phase) {
  std::optional<std::map<std::string, std::string>> row;
  WaitUntil([&] {
    row = LatestDrainOf(admin, database);
    return row && row->at("phase") == phase;
  });
  if (row && row->at("phase") != phase) return std::nullopt;
  return row;
}

std::optional<size_t> ReportRowOf(const ResultTable& report, int32_t backend_pid) {
  return report.FindRow("backend_pid", std::to_string(backend_pid));
}

std::string OutcomeOf(const ResultTable& report, int32_t backend_pid) {
  const std::optional<size_t> row = ReportRowOf(report, backend_pid);
  return row ? report.Text(*row, "outcome") : "<no row>";
}

std::map<std::string, int> CountOutcomes(const ResultTable& report) {
  std::map<std::string, int> counts;
  for (size_t row = 0; row < report.size(); ++row) ++counts[report.Text(row, "outcome")];
  return counts;
}

double SecondsBetween(steady_clock::time_point from, steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

DrainedSession DrainTest::OpenIdle(std::string_view database, std::string_view user) {
  return OpenSession(pgvalve().ClientConnString(database, user));
}

DrainedSession DrainTest::OpenInTransaction(std::string_view database, const std::string& statement,
                                            std::string_view user) {
  DrainedSession session = OpenIdle(database, user);
  ExecOk(session.get(), "BEGIN");
  ExecOk(session.get(), statement);
  return session;
}

DrainedSession DrainTest::OpenSleeper(std::string_view database, std::string_view user) {
  DrainedSession session = OpenIdle(database, user);
  SendQuery(session.get(), std::string(kSleepQuery));
  return session;
}

DrainedSession DrainTest::OpenDirect(std::string_view database, std::string_view user) {
  return OpenSession(pg().ConnString(database, user));
}

}  // namespace pgvalve::test
