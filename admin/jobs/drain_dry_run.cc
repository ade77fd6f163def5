#include "admin/jobs/drain_dry_run.h"

#include <algorithm>
#include <map>
#include <set>

#include "admin/commands/command_support.h"
#include "admin/jobs/session_holds.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/status_text.h"
#include "upstream/activity_queries.h"
#include "upstream/control_connections.h"

namespace pgvalve::admin {
namespace {

namespace sqlstate = protocol::sqlstate;
using protocol::ColumnType;
using proxy::SessionState;

// How much of a direct backend's last statement the report shows.
constexpr uint32_t kLastQueryLength = 200;

struct ServerFacts {
  std::map<int32_t, upstream::DatabaseBackend> backends;  // on the database, by pid
  std::map<int32_t, int64_t> advisory_locks;               // count by pid
  std::vector<upstream::PreparedTransaction> prepared;
  // With a filter: the client backends on the database that match it.
  std::optional<std::set<int32_t>> matching;
  std::string unavailable;  // why facts are missing, if they are
};

Awaitable<ServerFacts> ReadServerFacts(CommandContext& context, const std::string& database,
                                       const SessionFilter& filter) {
  ServerFacts facts;
  auto config = context.services.config.Current();
  const config::UpstreamConfig* upstream = config->UpstreamFor(database);
  if (upstream == nullptr || !upstream->control_user) {
    facts.unavailable = "no control_user: server-side facts not shown";
    co_return facts;
  }
  std::shared_ptr<upstream::ControlConnection> control = context.services.control.For(*upstream);
  if (absl::Status connected = co_await control->EnsureConnected(); !connected.ok()) {
    facts.unavailable = fmt::format("pg_stat_activity not read: {}", proxy::StatusText(connected));
    co_return facts;
  }
  absl::StatusOr<std::vector<upstream::DatabaseBackend>> backends =
      co_await upstream::DatabaseBackends(*control, database, kLastQueryLength);
  if (!backends.ok()) {
    facts.unavailable = fmt::format("pg_stat_activity not read: {}", proxy::StatusText(backends.status()));
    co_return facts;
  }
  for (upstream::DatabaseBackend& backend : *backends) facts.backends.emplace(backend.pid, std::move(backend));
  if (!filter.empty()) {
    absl::StatusOr<std::vector<upstream::ClientBackendRow>> matching =
        co_await upstream::FindDirectClientBackends(*control, database, {}, ActivityConditionOf(filter), 0);
    if (matching.ok()) {
      facts.matching.emplace();
      for (const upstream::ClientBackendRow& row : *matching) facts.matching->insert(row.pid);
    }
  }
  // Lesser facts: the report goes on without them.
  absl::StatusOr<std::map<int32_t, int64_t>> locks = co_await upstream::AdvisoryLocksHeld(*control, database);
  if (locks.ok()) facts.advisory_locks = std::move(*locks);
  absl::StatusOr<std::vector<upstream::PreparedTransaction>> prepared =
      co_await upstream::PreparedTransactions(*control, database);
  if (prepared.ok()) facts.prepared = std::move(*prepared);
  co_return facts;
}

std::string Holds(std::optional<double> transaction_seconds, int64_t advisory_locks,
                  const SessionHolds* session, const std::string& last_query) {
  std::vector<std::string> holds;
  if (transaction_seconds) holds.push_back(fmt::format("open transaction {:.1f} s", *transaction_seconds));
  if (session && session->temp_tables) holds.push_back("temporary tables: " + *session->temp_tables);
  if (advisory_locks > 0) holds.push_back(fmt::format("advisory locks: {}", advisory_locks));
  if (session && session->listening) holds.push_back("LISTEN: " + *session->listening);
  // A direct backend cannot be asked; its last statement is the hint.
  if (!session && last_query.size() >= 6) {
    std::string head = last_query.substr(0, 6);
    std::transform(head.begin(), head.end(), head.begin(), ::toupper);
    if (head == "LISTEN") holds.push_back("LISTEN (its last statement)");
  }
  if (session && !session->unavailable.empty()) holds.push_back("not inspected: " + session->unavailable);
  std::string text;
  for (const auto& hold : holds) text += (text.empty() ? "" : "; ") + hold;
  return text;
}

}  // namespace

Awaitable<absl::StatusOr<ResultSet>> DrainDryRun(CommandContext& context, const DrainOptions& options) {
  ServerFacts server = co_await ReadServerFacts(context, options.database, options.filter);
  const auto now = proxy::WallClock::now();
  std::vector<std::shared_ptr<proxy::SessionRecord>> sessions =
      SessionsOf(context.services.sessions, options.database);
  std::map<uint64_t, SessionHolds> probed = co_await ProbeSessionHolds(sessions);

  const std::string escalation =
      options.escalation == DrainEscalation::kWait
          ? std::string("then wait for TIMEOUT")
          : fmt::format("then {} at GRACE ({} ms)", options.escalation == DrainEscalation::kCancel
                                                        ? "cancel and close"
                                                        : "pg_terminate_backend",
                        options.grace.count());
  ResultSet rows({{"client_id", ColumnType::kInt8},
                  {"backend_pid", ColumnType::kInt4},
                  {"user", ColumnType::kText},
                  {"application_name", ColumnType::kText},
                  {"state", ColumnType::kText},
                  {"would", ColumnType::kText},
                  {"holds", ColumnType::kText}});
  const auto& excepted = options.except_roles;
  for (const auto& record : sessions) {
    const proxy::SessionSnapshot session = record->Snapshot();
    const bool exempt =
        std::find(excepted.begin(), excepted.end(), session.identity.user) != excepted.end();
    std::string would;
    if (exempt) {
      would = "left alone (EXCEPT ROLE)";
    } else if (!Matches(options.filter, session, now)) {
      would = "left alone (does not match the filter)";
    } else if (session.state == SessionState::kIdle || session.state == SessionState::kHeld) {
      would = "close now";
    } else {
      would = "close when its transaction ends, " + escalation;
    }
    auto found = server.backends.find(session.backend_pid);
    std::optional<double> transaction;
    if (found != server.backends.end()) transaction = found->second.transaction_seconds;
    auto locks = server.advisory_locks.find(session.backend_pid);
    auto facts = probed.find(session.identity.id);
    rows.AddRow()
        .Int(static_cast<int64_t>(session.identity.id))
        .Int(session.backend_pid)
        .Text(session.identity.user)
        .Text(session.application_name)
        .Text(proxy::SessionStateName(session.state))
        .Text(would)
        .Text(Holds(transaction, locks == server.advisory_locks.end() ? 0 : locks->second,
                    facts == probed.end() ? nullptr : &facts->second, ""));
    if (found != server.backends.end()) server.backends.erase(found);
  }
  // What is left on the server did not come through pgvalve.
  for (const auto& [pid, backend] : server.backends) {
    auto locks = server.advisory_locks.find(pid);
    rows.AddRow()
        .Null()
        .Int(pid)
        .Text(backend.user)
        .Text(backend.application_name)
        .Text(backend.state)
        .Text(!options.including_direct
                  ? "left alone (direct connection; add INCLUDING DIRECT)"
              : server.matching && !server.matching->contains(pid)
                  ? "left alone (direct connection that does not match the filter)"
                  : "pg_terminate_backend at GRACE (direct connection)")
        .Text(Holds(backend.transaction_seconds,
                    locks == server.advisory_locks.end() ? 0 : locks->second, nullptr,
                    backend.query));
  }
  for (const auto& prepared : server.prepared) {
    rows.AddRow()
        .Null()
        .Null()
        .Text(prepared.owner)
        .Null()
        .Text(fmt::format("prepared transaction '{}'", prepared.gid))
        .Text("blocks DROP DATABASE until COMMIT PREPARED or ROLLBACK PREPARED")
        .Text(fmt::format("prepared at {}", prepared.prepared));
  }
  if (!server.unavailable.empty()) {
    co_await context.notices.Notice(server.unavailable);
  }
  co_return rows;
}

}  // namespace pgvalve::admin
