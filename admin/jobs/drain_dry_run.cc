#include "admin/jobs/drain_dry_run.h"

#include <algorithm>
#include <map>
#include <set>

#include "admin/commands/command_support.h"
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

constexpr std::chrono::seconds kProbeWait{2};

// Asked inside each idle pgvalve session: only the session itself can see
// its temporary tables and LISTEN channels. Schema-qualified, so the
// session's search_path cannot change what runs.
constexpr std::string_view kSessionProbe =
    "SELECT (SELECT pg_catalog.string_agg(c.relname::text, ', ' ORDER BY c.relname) "
    "FROM pg_catalog.pg_class c WHERE c.relnamespace = pg_catalog.pg_my_temp_schema()), "
    "(SELECT pg_catalog.string_agg(l.channel, ', ' ORDER BY l.channel) "
    "FROM pg_catalog.pg_listening_channels() AS l(channel))";

struct ServerFacts {
  struct Backend {
    std::string user, application_name, state, last_query;
    std::optional<double> transaction_seconds;
  };
  std::map<int32_t, Backend> backends;        // on the database, by pid
  std::map<int32_t, int64_t> advisory_locks;  // count by pid
  std::vector<std::vector<std::optional<std::string>>> prepared;  // gid, owner, prepared
  // With a filter: the client backends on the database that match it.
  std::optional<std::set<int32_t>> matching;
  std::string unavailable;                    // why facts are missing, if they are
};

struct SessionFacts {
  std::optional<std::string> temp_tables;
  std::optional<std::string> listening;
  std::string unavailable;
};

std::string Text(const std::optional<std::string>& value) { return value ? *value : std::string(); }

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
  std::vector<std::optional<std::string>> params = {database};
  absl::StatusOr<upstream::QueryResult> activity = co_await control->Query(
      "SELECT pid, usename, application_name, coalesce(state, backend_type), "
      "extract(epoch FROM now() - xact_start)::float8, left(query, 200) "
      "FROM pg_stat_activity WHERE datname = $1" + upstream::ClientBackendsOnly(*control),
      params);
  if (!activity.ok()) {
    facts.unavailable = fmt::format("pg_stat_activity not read: {}", proxy::StatusText(activity.status()));
    co_return facts;
  }
  for (const auto& row : activity->rows) {
    ServerFacts::Backend backend{Text(row[1]), Text(row[2]), Text(row[3]), Text(row[5]), std::nullopt};
    if (row[4]) backend.transaction_seconds = std::stod(*row[4]);
    facts.backends.emplace(std::stoi(Text(row[0])), std::move(backend));
  }
  if (!filter.empty()) {
    absl::StatusOr<std::vector<upstream::ClientBackendRow>> matching =
        co_await upstream::FindDirectClientBackends(*control, database, {}, ActivityConditionOf(filter), 0);
    if (matching.ok()) {
      facts.matching.emplace();
      for (const upstream::ClientBackendRow& row : *matching) facts.matching->insert(row.pid);
    }
  }
  absl::StatusOr<upstream::QueryResult> locks = co_await control->Query(
      "SELECT l.pid, count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
      "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = $1 AND l.pid IS NOT NULL "
      "GROUP BY l.pid",
      params);
  if (locks.ok()) {
    for (const auto& row : locks->rows) facts.advisory_locks[std::stoi(Text(row[0]))] = std::stoll(Text(row[1]));
  }
  absl::StatusOr<upstream::QueryResult> prepared = co_await control->Query(
      "SELECT gid, owner::text, prepared::text FROM pg_prepared_xacts WHERE database = $1 ORDER BY prepared",
      params);
  if (prepared.ok()) facts.prepared = prepared->rows;
  co_return facts;
}

// Runs the probe in every idle session at once and waits for the answers
// (bounded), keyed by client id.
Awaitable<std::map<uint64_t, SessionFacts>> ProbeSessions(
    const std::vector<std::shared_ptr<proxy::SessionRecord>>& sessions) {
  struct Pending {
    explicit Pending(proxy::asio::any_io_executor executor)
        : timer(executor, std::chrono::steady_clock::now() + kProbeWait) {}
    proxy::asio::steady_timer timer;
    std::map<uint64_t, SessionFacts> facts;
    size_t outstanding = 0;
  };
  auto executor = co_await proxy::asio::this_coro::executor;
  auto pending = std::make_shared<Pending>(executor);
  for (const auto& record : sessions) {
    auto control = record->control();
    if (!control || record->state() != SessionState::kIdle) continue;
    ++pending->outstanding;
    const uint64_t id = record->id();
    control->Probe(std::string(kSessionProbe), [executor, pending, id](proxy::SessionControl::ProbeResult result) {
      // Back to the admin thread, where `pending` is used.
      proxy::asio::post(executor, [pending, id, result = std::move(result)] {
        SessionFacts& facts = pending->facts[id];
        if (!result.ok()) {
          facts.unavailable = std::string(proxy::StatusText(result.status()));
        } else if (result->size() == 2) {
          facts.temp_tables = (*result)[0];
          facts.listening = (*result)[1];
        }
        if (--pending->outstanding == 0) pending->timer.cancel();
      });
    });
  }
  if (pending->outstanding > 0) co_await pending->timer.async_wait(proxy::kUseTuple);
  co_return pending->facts;
}

std::string Holds(std::optional<double> transaction_seconds, int64_t advisory_locks,
                  const SessionFacts* session, const std::string& last_query) {
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
  std::map<uint64_t, SessionFacts> probed = co_await ProbeSessions(sessions);

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
                    backend.last_query));
  }
  for (const auto& prepared : server.prepared) {
    rows.AddRow()
        .Null()
        .Null()
        .Text(Text(prepared[1]))
        .Null()
        .Text(fmt::format("prepared transaction '{}'", Text(prepared[0])))
        .Text("blocks DROP DATABASE until COMMIT PREPARED or ROLLBACK PREPARED")
        .Text(fmt::format("prepared at {}", Text(prepared[2])));
  }
  if (!server.unavailable.empty()) {
    co_await context.notices.Notice(server.unavailable);
  }
  co_return rows;
}

}  // namespace pgvalve::admin
