#pragma once
// libpq's results in pgvalve's terms: owning handles, a PGresult's rows as
// a QueryResult, its error as an absl::Status that keeps the SQLSTATE, and
// libpq's multi-line messages as one line. Private to control_connection.cc.

#include <libpq-fe.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/status_text.h"
#include "upstream/control_connection.h"

namespace pgvalve::upstream::pq {

struct ConnCloser {
  void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
};
struct ResultClearer {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};
struct CancelFreer {
  void operator()(PGcancel* cancel) const noexcept { PQfreeCancel(cancel); }
};
using Conn = std::unique_ptr<PGconn, ConnCloser>;
using Result = std::unique_ptr<PGresult, ResultClearer>;
using Cancel = std::unique_ptr<PGcancel, CancelFreer>;

// libpq's messages end in a newline and put hints on indented lines of
// their own; a status message is one line.
inline std::string OneLine(const char* text) {
  std::string line;
  for (std::string_view rest = text != nullptr ? text : ""; !rest.empty();) {
    const size_t end = std::min(rest.find('\n'), rest.size());
    std::string_view part = rest.substr(0, end);
    rest.remove_prefix(std::min(end + 1, rest.size()));
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (part.empty()) continue;
    if (!line.empty()) line += "; ";
    line += part;
  }
  return line.empty() ? "unknown libpq error" : line;
}

// A server error keeps its SQLSTATE so that callers can tell, say, a
// refused pg_terminate_backend (42501) from a typo (42601). An error libpq
// made up itself (the connection broke) has no SQLSTATE: Unavailable, with
// 08006 (connection_failure) for the admin console.
inline absl::Status StatementFailure(std::string_view upstream_name, const PGresult* result) {
  const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  if (sqlstate == nullptr || primary == nullptr) {
    return protocol::WithSqlState(
        proxy::UnavailableError(fmt::format("upstream \"{}\": control connection lost: {}", upstream_name,
                                            OneLine(PQresultErrorMessage(result)))),
        protocol::sqlstate::kConnectionFailure);
  }
  std::string message = fmt::format("upstream \"{}\": {}", upstream_name, primary);
  if (const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL)) {
    message += fmt::format("; DETAIL: {}", detail);
  }
  if (const char* hint = PQresultErrorField(result, PG_DIAG_MESSAGE_HINT)) {
    message += fmt::format("; HINT: {}", hint);
  }
  return protocol::ErrorWithSqlState(sqlstate, message);
}

// A NoticeResponse (or an ErrorResponse libpq passes on as one) as
// "WARNING: text".
inline std::string NoticeText(const PGresult* notice) {
  const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY);
  const char* primary = PQresultErrorField(notice, PG_DIAG_MESSAGE_PRIMARY);
  if (primary == nullptr) return OneLine(PQresultErrorMessage(notice));
  return fmt::format("{}: {}", severity != nullptr ? severity : "NOTICE", primary);
}

// Whether the server sent `notice` as it was closing the connection.
inline bool IsFatal(const PGresult* notice) {
  const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (severity == nullptr) return false;
  const std::string_view level(severity);
  return level == "FATAL" || level == "PANIC";
}

// Replaces out's columns, rows and command tag with `result`'s.
inline void TakeRows(const PGresult* result, QueryResult& out) {
  const int fields = PQnfields(result);
  const int tuples = PQntuples(result);
  out.columns.clear();
  out.rows.clear();
  out.columns.reserve(fields);
  for (int field = 0; field < fields; ++field) out.columns.emplace_back(PQfname(result, field));
  out.rows.reserve(tuples);
  for (int tuple = 0; tuple < tuples; ++tuple) {
    std::vector<std::optional<std::string>>& row = out.rows.emplace_back();
    row.reserve(fields);
    for (int field = 0; field < fields; ++field) {
      if (PQgetisnull(result, tuple, field)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::in_place, PQgetvalue(result, tuple, field), PQgetlength(result, tuple, field));
      }
    }
  }
  // libpq 15 declares PQcmdStatus without const, but only reads.
  out.command_tag = PQcmdStatus(const_cast<PGresult*>(result));
}

}  // namespace pgvalve::upstream::pq
