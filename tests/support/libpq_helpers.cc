#include "tests/support/libpq_helpers.h"

#include <poll.h>

#include <cerrno>
#include <regex>

namespace pgvalve::test {
namespace {

// With PQERRORS_VERBOSE a server error reads "FATAL:  28P01: password ...".
std::string SqlStateFromMessage(const std::string& message) {
  static const std::regex pattern("(?:FATAL|ERROR|PANIC):  ([0-9A-Z]{5}): ");
  std::smatch match;
  if (std::regex_search(message, match, pattern)) return match[1].str();
  return "";
}

// Turns the VERBOSE form back into the default one that tests expect to
// match: drops the "28P01: " after the severity and the LOCATION lines.
std::string DefaultFormOfVerboseMessage(const std::string& message) {
  static const std::regex code("((?:FATAL|ERROR|PANIC):  )[0-9A-Z]{5}: ");
  static const std::regex location("(^|\n)LOCATION:  [^\n]*");
  return std::regex_replace(std::regex_replace(message, code, "$1"), location, "");
}

std::string TrimTrailingNewlines(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

}  // namespace

PgConn Connect(const std::string& conninfo) {
  ConnectOutcome outcome = TryConnect(conninfo);
  if (!outcome.ok()) {
    throw PgError("connecting with \"" + conninfo + "\" failed: " + outcome.error,
                  outcome.sqlstate);
  }
  return std::move(outcome.conn);
}

ConnectOutcome TryConnect(const std::string& conninfo) {
  ConnectOutcome outcome;
  PgConn conn(PQconnectStart(conninfo.c_str()));
  if (!conn) {
    outcome.error = "PQconnectStart: out of memory";
    return outcome;
  }
  PQsetErrorVerbosity(conn.get(), PQERRORS_VERBOSE);

  // The loop libpq documents for PQconnectPoll, with our own deadline since
  // connect_timeout only applies to the blocking PQconnectdb.
  const auto deadline = std::chrono::steady_clock::now() + kConnectTimeout;
  PostgresPollingStatusType state =
      PQstatus(conn.get()) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK && state != PGRES_POLLING_FAILED) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      outcome.error = "timed out after " + std::to_string(kConnectTimeout.count()) +
                      "s waiting for the connection to complete";
      return outcome;
    }
    pollfd fd{PQsocket(conn.get()),
              static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    if (::poll(&fd, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
      outcome.error = "poll failed";
      return outcome;
    }
    state = PQconnectPoll(conn.get());
  }

  if (state == PGRES_POLLING_FAILED) {
    const std::string verbose = PQerrorMessage(conn.get());
    outcome.sqlstate = SqlStateFromMessage(verbose);
    outcome.error = TrimTrailingNewlines(DefaultFormOfVerboseMessage(verbose));
    return outcome;
  }
  PQsetErrorVerbosity(conn.get(), PQERRORS_DEFAULT);
  outcome.conn = std::move(conn);
  return outcome;
}

std::string ConnectError(const std::string& conninfo) { return TryConnect(conninfo).error; }

PgResult Exec(PGconn* conn, const std::string& sql) {
  PgResult result(PQexec(conn, sql.c_str()));
  if (!result) result.reset(PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR));
  return result;
}

PgResult ExecOk(PGconn* conn, const std::string& sql) {
  PgResult result = Exec(conn, sql);
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    std::string message = PQresultErrorMessage(result.get());
    if (message.empty()) message = PQerrorMessage(conn);
    throw PgError("\"" + sql + "\" failed (" + PQresStatus(status) +
                      "): " + TrimTrailingNewlines(message),
                  SqlState(result.get()));
  }
  return result;
}

std::string ScalarString(PGconn* conn, const std::string& sql) {
  PgResult result = ExecOk(conn, sql);
  if (PQntuples(result.get()) < 1 || PQnfields(result.get()) < 1) {
    throw PgError("\"" + sql + "\" returned no value", "");
  }
  return PQgetvalue(result.get(), 0, 0);
}

std::string SqlState(const PGresult* result) {
  if (result == nullptr) return "";
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  return state ? state : "";
}

std::string QuoteConnInfoValue(std::string_view value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
  quoted.push_back('\'');
  return quoted;
}

std::string QuoteIdentifier(std::string_view identifier) {
  std::string quoted = "\"";
  for (char c : identifier) {
    if (c == '"') quoted.push_back('"');
    quoted.push_back(c);
  }
  quoted.push_back('"');
  return quoted;
}

std::string QuoteLiteral(std::string_view value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'') quoted.push_back('\'');
    quoted.push_back(c);
  }
  quoted.push_back('\'');
  return quoted;
}

}  // namespace pgvalve::test
