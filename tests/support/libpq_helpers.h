#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace pgvalve::test {

struct PgConnCloser {
  void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
};
struct PgResultClearer {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};

// Owning handles; a PgConn may hold a connection in CONNECTION_BAD state.
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;
using PgResult = std::unique_ptr<PGresult, PgResultClearer>;

// Thrown by the checked helpers below. Inside a test body GoogleTest reports
// it as a failure with this message; on other threads catch it yourself.
class PgError : public std::runtime_error {
 public:
  PgError(const std::string& message, std::string sqlstate)
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}

  // Empty when the failure did not come from the server.
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  std::string sqlstate_;
};

// The result of a connection attempt that is allowed to fail.
struct ConnectOutcome {
  PgConn conn;          // set only when the connection succeeded
  std::string error;    // libpq's message, empty on success
  std::string sqlstate; // SQLSTATE of the server's FATAL, empty if none was sent

  bool ok() const { return conn != nullptr; }
};

// How long a connection attempt may take before it counts as failed; keeps
// a proxy that never answers from hanging a test until ctest's timeout.
inline constexpr std::chrono::seconds kConnectTimeout{20};

// Connects or throws PgError with libpq's message and the SQLSTATE.
PgConn Connect(const std::string& conninfo);

// Connects without throwing on failure. libpq 15 keeps the fields of an
// ErrorResponse received during startup to itself, so the SQLSTATE is read
// from the message text, which libpq includes when the connection's error
// verbosity is VERBOSE; that is set before the handshake starts and put
// back to the default once connected. `error` is given in the default
// form, as PQconnectdb would have reported it.
ConnectOutcome TryConnect(const std::string& conninfo);

// libpq's error message for a connection attempt, or "" when it succeeded.
std::string ConnectError(const std::string& conninfo);

// PQexec that never returns null: a missing result becomes a
// PGRES_FATAL_ERROR result carrying the connection's error message. The
// status is not checked, so tests can inspect failures.
PgResult Exec(PGconn* conn, const std::string& sql);

// Exec that throws PgError unless the last result is COMMAND_OK or TUPLES_OK.
PgResult ExecOk(PGconn* conn, const std::string& sql);

// First column of the first row as text ("" for NULL). Throws PgError when
// the query fails or returns no rows.
std::string ScalarString(PGconn* conn, const std::string& sql);

// The SQLSTATE of a failed result, "" for none (or a null result).
std::string SqlState(const PGresult* result);

// Quotes a value for a libpq key=value connection string.
std::string QuoteConnInfoValue(std::string_view value);

// Quotes an SQL identifier: my"db -> "my""db".
std::string QuoteIdentifier(std::string_view identifier);

// Quotes an SQL string literal: it's -> 'it''s' (standard_conforming_strings
// is on, so a backslash needs nothing).
std::string QuoteLiteral(std::string_view value);

}  // namespace pgvalve::test
