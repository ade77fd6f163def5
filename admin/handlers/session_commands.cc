#include "admin/handlers/session_commands.h"

#include <map>
#include <set>

#include "admin/commands/session_selection.h"
#include "config/value_text.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/cancel_forwarder.h"
#include "proxy/deadline.h"
#include "proxy/status_text.h"
#include "upstream/activity_queries.h"
#include "upstream/backend_signals.h"
#include "upstream/control_connections.h"

namespace pgvalve::admin {
namespace {

namespace sqlstate = protocol::sqlstate;
using protocol::ColumnType;
using proxy::SessionRecord;
using proxy::SessionState;
using std::chrono::steady_clock;

constexpr std::chrono::milliseconds kCancelTimeout{5000};
// How long CANCEL watches for the cancelled queries to end before it
// reports them as still running. A cancel reaches an interruptible query
// in milliseconds; one that ignores it is what the report must show.
constexpr std::chrono::milliseconds kCancelVerifyWait{3000};
constexpr std::chrono::milliseconds kCancelPollInterval{20};
constexpr std::string_view kTerminatedMessage = "terminating connection due to administrator command";

// One line of an action's report: a pgvalve session, or a backend that
// connected to PostgreSQL directly (INCLUDING DIRECT).
struct ActionRow {
  std::shared_ptr<SessionRecord> record;  // null for a direct backend
  proxy::SessionSnapshot seen;            // for a pgvalve session: as selected
  int32_t backend_pid = 0;
  std::string database;
  std::string user;
  std::string application_name;
  std::string client_addr;
  std::string state;
  double state_seconds = 0;
  std::optional<std::string> query;
  std::string upstream;
  std::string result;
  bool signalled = false;
  std::optional<double> gone_after;
};

ActionRow FromSession(const SelectedSession& session, proxy::WallClock::time_point now) {
  const proxy::SessionSnapshot& seen = session.snapshot;
  return ActionRow{.record = session.record,
                   .seen = seen,
                   .backend_pid = seen.backend_pid,
                   .database = seen.identity.database,
                   .user = seen.identity.user,
                   .application_name = seen.application_name,
                   .client_addr = seen.identity.client_address,
                   .state = std::string(proxy::SessionStateName(seen.state)),
                   .state_seconds = StateAge(seen, now).count(),
                   .upstream = seen.upstream};
}

ActionRow FromDirect(upstream::ClientBackendRow backend, const std::string& database, const std::string& upstream) {
  return ActionRow{.backend_pid = backend.pid,
                   .database = database,
                   .user = std::move(backend.user),
                   .application_name = std::move(backend.application_name),
                   .client_addr = std::move(backend.client_addr),
                   .state = std::move(backend.state),
                   .state_seconds = backend.state_seconds,
                   .query = std::move(backend.query),
                   .upstream = upstream};
}

// The current configuration's entry for the upstream a session runs on.
std::optional<config::UpstreamConfig> UpstreamOf(CommandContext& context, const std::string& name) {
  auto config = context.services.config.Current();
  auto found = config->upstreams.find(name);
  if (found == config->upstreams.end()) return std::nullopt;
  return found->second;
}

// Rows by the upstream their backend is on.
std::map<std::string, std::vector<ActionRow*>> ByUpstream(std::vector<ActionRow>& rows) {
  std::map<std::string, std::vector<ActionRow*>> groups;
  for (ActionRow& row : rows) groups[row.upstream].push_back(&row);
  return groups;
}

// The start of each pgvalve session's query, from pg_stat_activity where
// the upstream has a control connection; left NULL elsewhere.
Awaitable<void> FillQueryTexts(CommandContext& context, std::vector<ActionRow>& rows) {
  const uint32_t length = context.services.config.Current()->admin.query_text_length;
  for (auto& [upstream_name, group] : ByUpstream(rows)) {
    std::optional<config::UpstreamConfig> upstream = UpstreamOf(context, upstream_name);
    if (!upstream || !upstream->control_user) continue;
    std::vector<int32_t> pids;
    for (const ActionRow* row : group) {
      if (row->record && row->backend_pid != 0) pids.push_back(row->backend_pid);
    }
    if (pids.empty()) continue;
    std::shared_ptr<upstream::ControlConnection> control = context.services.control.For(*upstream);
    absl::StatusOr<std::map<int32_t, std::string>> texts = co_await upstream::QueryTexts(*control, pids, length);
    if (!texts.ok()) continue;
    for (ActionRow* row : group) {
      auto text = texts->find(row->backend_pid);
      if (row->record && text != texts->end()) row->query = text->second;
    }
  }
}

// The direct backends INCLUDING DIRECT adds: those on the selection's
// database, on the upstream it routes to, that are not pgvalve sessions.
Awaitable<absl::StatusOr<std::vector<ActionRow>>> DirectRows(CommandContext& context,
                                                             const SessionSelection& selection,
                                                             const SessionFilter& filter) {
  auto config = context.services.config.Current();
  const config::UpstreamConfig* routed = config->UpstreamFor(*selection.database);
  if (routed == nullptr) {
    co_return protocol::ErrorWithSqlState(
        sqlstate::kInvalidCatalogName,
        fmt::format("pgvalve has no route for database \"{}\"", *selection.database));
  }
  // Direct backends can only be found and signalled through the control
  // connection; without one, claiming to have acted on them would be a lie.
  if (!routed->control_user) {
    co_return protocol::ErrorWithSqlState(
        sqlstate::kObjectNotInPrerequisiteState,
        fmt::format("INCLUDING DIRECT needs control_user on upstream \"{}\"", routed->name));
  }
  // Every pgvalve session's backend, not only the selected ones: an
  // unselected pgvalve session is not a direct backend either.
  std::vector<int32_t> pgvalve_pids;
  for (const auto& record : context.services.sessions.All()) {
    if (record->backend_pid() != 0) pgvalve_pids.push_back(record->backend_pid());
  }
  std::shared_ptr<upstream::ControlConnection> control = context.services.control.For(*routed);
  absl::StatusOr<std::vector<upstream::ClientBackendRow>> found = co_await upstream::FindDirectClientBackends(
      *control, *selection.database, pgvalve_pids, ActivityConditionOf(filter), config->admin.query_text_length);
  if (!found.ok()) co_return found.status();
  std::vector<ActionRow> rows;
  for (upstream::ClientBackendRow& backend : *found) {
    rows.push_back(FromDirect(std::move(backend), *selection.database, routed->name));
  }
  co_return rows;
}

ResultSet Report(const std::vector<ActionRow>& rows, bool with_gone) {
  std::vector<Column> columns = {{"client_id", ColumnType::kInt8},
                                            {"backend_pid", ColumnType::kInt4},
                                            {"database", ColumnType::kText},
                                            {"user", ColumnType::kText},
                                            {"application_name", ColumnType::kText},
                                            {"client_addr", ColumnType::kText},
                                            {"state", ColumnType::kText},
                                            {"state_seconds", ColumnType::kFloat8},
                                            {"query", ColumnType::kText},
                                            {"upstream", ColumnType::kText},
                                            {"result", ColumnType::kText}};
  if (with_gone) {
    columns.push_back({"gone", ColumnType::kBool});
    columns.push_back({"gone_after", ColumnType::kFloat8});
  }
  ResultSet report(std::move(columns));
  for (const ActionRow& row : rows) {
    auto& out = report.AddRow();
    if (row.record) {
      out.Int(static_cast<int64_t>(row.record->id()));
    } else {
      out.Null();
    }
    if (row.backend_pid != 0) {
      out.Int(row.backend_pid);
    } else {
      out.Null();
    }
    out.Text(row.database).Text(row.user).Text(row.application_name).Text(row.client_addr)
        .Text(row.state).Double(row.state_seconds).OptionalText(row.query).Text(row.upstream)
        .Text(row.result);
    if (with_gone) {
      out.Bool(row.gone_after.has_value());
      if (row.gone_after) {
        out.Double(*row.gone_after);
      } else {
        out.Null();
      }
    }
  }
  return report;
}

CommandResult Finish(std::vector<ActionRow>& rows, std::string_view verb, bool dry_run, bool with_gone) {
  if (dry_run) {
    for (ActionRow& row : rows) {
      if (row.result.empty()) row.result = fmt::format("would {}", verb);
    }
  }
  std::string tag = fmt::format("{} {}", verb, rows.size());
  for (char& c : tag) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return CommandResult{Report(rows, with_gone), std::move(tag)};
}

// A cancel hits a running query only: sent to an idle session, it could
// land on the next query that session starts.
SessionFilter OnlyRunning(SessionFilter filter) {
  if (filter.states.empty()) {
    filter.states = {SessionState::kActive};
  } else {
    std::erase_if(filter.states, [](SessionState state) { return state != SessionState::kActive; });
    // No state left: nothing can match; an impossible state says so.
    if (filter.states.empty()) filter.states = {SessionState::kStarting};
  }
  return filter;
}

// The query a pgvalve session was running when selected has ended.
bool QueryEnded(const ActionRow& row) {
  if (row.record->end()) return true;
  return row.record->state_stamp() != proxy::StateStamp{row.seen.state, row.seen.state_since} ||
         row.record->query_start() != row.seen.query_start;
}

// Watches the cancelled queries until each has ended or the wait is over.
// Polled: a direct backend's query can only be seen in pg_stat_activity,
// and the wait is short and bounded.
Awaitable<void> AwaitCancelled(CommandContext& context, std::vector<ActionRow*> pending,
                               const std::map<int32_t, upstream::RunningQuery>& direct_before) {
  const auto deadline = steady_clock::now() + kCancelVerifyWait;
  std::set<const ActionRow*> ended;
  while (!pending.empty()) {
    std::vector<ActionRow*> direct;
    for (ActionRow* row : pending) {
      if (row->record && QueryEnded(*row)) ended.insert(row);
      if (!row->record) direct.push_back(row);
    }
    if (!direct.empty()) {
      std::vector<int32_t> pids;
      for (const ActionRow* row : direct) pids.push_back(row->backend_pid);
      // Direct backends all sit on the one upstream the database routes to.
      std::optional<config::UpstreamConfig> upstream = UpstreamOf(context, direct.front()->upstream);
      if (upstream) {
        std::shared_ptr<upstream::ControlConnection> control = context.services.control.For(*upstream);
        absl::StatusOr<std::map<int32_t, upstream::RunningQuery>> now = co_await upstream::RunningQueries(*control, pids);
        for (ActionRow* row : direct) {
          if (!now.ok()) break;
          auto current = now->find(row->backend_pid);
          auto before = direct_before.find(row->backend_pid);
          if (current == now->end() || !current->second.active ||
              (before != direct_before.end() && current->second.query_start != before->second.query_start)) {
            ended.insert(row);
          }
        }
      }
    }
    std::erase_if(pending, [&](ActionRow* row) {
      if (!ended.contains(row)) return false;
      row->result = "cancelled";
      return true;
    });
    if (pending.empty() || steady_clock::now() >= deadline) break;
    co_await proxy::SleepFor(kCancelPollInterval);
  }
  for (ActionRow* row : pending) {
    row->result = fmt::format("cancel sent; the query still ran {:.0f} s later",
                              std::chrono::duration<double>(kCancelVerifyWait).count());
  }
}

}  // namespace

Awaitable<absl::StatusOr<CommandResult>> Cancel(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<SessionSelection> selection = ParseSessionSelection(
      context.services.sessions, arguments, {.including_direct = true, .dry_run = true});
  if (!selection.ok()) co_return selection.status();
  const SessionFilter running = OnlyRunning(selection->filter);

  std::vector<ActionRow> rows;
  for (const SelectedSession& session : selection->sessions) {
    // One session named by id is reported whatever it is doing; of a
    // database, only those a cancel would hit.
    if (selection->many() && !Matches(running, session.snapshot, selection->now)) continue;
    rows.push_back(FromSession(session, selection->now));
  }
  if (selection->including_direct) {
    absl::StatusOr<std::vector<ActionRow>> direct = co_await DirectRows(context, *selection, running);
    if (!direct.ok()) co_return direct.status();
    for (ActionRow& row : *direct) rows.push_back(std::move(row));
  }
  // What a dry run can already tell about one named session.
  for (ActionRow& row : rows) {
    if (!row.record) continue;
    if (row.backend_pid == 0) {
      row.result = "skipped: still starting";
    } else if (row.seen.state != SessionState::kActive) {
      row.result = "skipped: not running a query";
    }
  }
  co_await FillQueryTexts(context, rows);
  if (selection->dry_run) co_return Finish(rows, "cancel", true, false);

  std::vector<ActionRow*> pending;
  std::map<std::string, std::vector<ActionRow*>> direct_by_upstream;
  for (ActionRow& row : rows) {
    if (!row.record) {
      direct_by_upstream[row.upstream].push_back(&row);
      continue;
    }
    if (!row.result.empty()) continue;  // skipped above
    std::optional<proxy::BackendKey> key = row.record->backend();
    if (row.record->end()) {
      row.result = "already gone";
    } else if (!key) {
      row.result = "skipped: still starting";
    } else if (QueryEnded(row)) {
      row.result = "skipped: the query ended before the cancel";
    } else {
      absl::Status sent = co_await proxy::ForwardCancelRequest(*key, kCancelTimeout);
      if (sent.ok()) {
        pending.push_back(&row);
      } else {
        row.result = fmt::format("failed: {}", proxy::StatusText(sent));
      }
    }
  }
  std::map<int32_t, upstream::RunningQuery> direct_before;
  for (auto& [upstream_name, group] : direct_by_upstream) {
    std::optional<config::UpstreamConfig> upstream = UpstreamOf(context, upstream_name);
    if (!upstream) {  // removed by a RELOAD meanwhile
      for (ActionRow* row : group) row->result = "failed: upstream no longer configured";
      continue;
    }
    std::shared_ptr<upstream::ControlConnection> control = context.services.control.For(*upstream);
    std::vector<int32_t> pids;
    for (const ActionRow* row : group) pids.push_back(row->backend_pid);
    // What each runs now, to tell its cancelled query from the next one.
    absl::StatusOr<std::map<int32_t, upstream::RunningQuery>> before = co_await upstream::RunningQueries(*control, pids);
    if (before.ok()) direct_before.insert(before->begin(), before->end());
    std::vector<upstream::TerminateOutcome> outcomes = co_await upstream::SignalBackends(*control, pids, upstream::BackendSignal::kCancel);
    for (size_t i = 0; i < outcomes.size(); ++i) {
      if (outcomes[i].signalled) {
        pending.push_back(group[i]);
      } else {
        group[i]->result = outcomes[i].result;
      }
    }
  }
  co_await AwaitCancelled(context, std::move(pending), direct_before);
  co_return Finish(rows, "cancel", false, false);
}

Awaitable<absl::StatusOr<CommandResult>> Terminate(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<SessionSelection> selection = ParseSessionSelection(
      context.services.sessions, arguments, {.including_direct = true, .dry_run = true});
  if (!selection.ok()) co_return selection.status();

  std::vector<ActionRow> rows;
  for (const SelectedSession& session : selection->sessions) {
    rows.push_back(FromSession(session, selection->now));
  }
  if (selection->including_direct) {
    absl::StatusOr<std::vector<ActionRow>> direct =
        co_await DirectRows(context, *selection, selection->filter);
    if (!direct.ok()) co_return direct.status();
    for (ActionRow& row : *direct) rows.push_back(std::move(row));
  }
  // Without a control connection nothing can be terminated; a dry run
  // says so too.
  std::set<std::string> unreachable;
  for (auto& [upstream_name, group] : ByUpstream(rows)) {
    std::optional<config::UpstreamConfig> upstream = UpstreamOf(context, upstream_name);
    if (upstream && upstream->control_user) continue;
    unreachable.insert(upstream_name);
    for (ActionRow* row : group) {
      row->result = upstream ? fmt::format("failed: upstream \"{}\" has no control_user", upstream_name)
                             : fmt::format("failed: upstream \"{}\" is no longer configured", upstream_name);
    }
  }
  co_await FillQueryTexts(context, rows);
  if (selection->dry_run) co_return Finish(rows, "terminate", true, true);

  auto config = context.services.config.Current();
  for (auto& [upstream_name, group] : ByUpstream(rows)) {
    if (unreachable.contains(upstream_name)) continue;
    std::optional<config::UpstreamConfig> upstream = UpstreamOf(context, upstream_name);
    if (!upstream) continue;
    std::vector<ActionRow*> to_signal;
    for (ActionRow* row : group) {
      // A session selected while starting may have its backend by now.
      if (row->record) row->backend_pid = row->record->backend_pid();
      if (row->record && row->record->end()) {
        row->result = "already gone";
      } else if (row->record &&
                 !StillMatches(*selection, SelectedSession{row->record, row->seen})) {
        row->result = "skipped: no longer matches";
      } else if (row->backend_pid == 0) {
        // pg_terminate_backend(0) would only be refused as "not a backend".
        row->result = "skipped: still starting";
      } else {
        to_signal.push_back(row);
      }
    }
    std::vector<int32_t> pids;
    for (const ActionRow* row : to_signal) pids.push_back(row->backend_pid);
    std::shared_ptr<upstream::ControlConnection> control = context.services.control.For(*upstream);
    std::vector<upstream::TerminateOutcome> outcomes = co_await upstream::TerminateBackends(*control, pids);
    co_await upstream::AwaitBackendsGone(*control, outcomes, config->proxy.terminate_wait);
    for (size_t i = 0; i < outcomes.size(); ++i) {
      ActionRow& row = *to_signal[i];
      const upstream::TerminateOutcome& outcome = outcomes[i];
      row.signalled = outcome.signalled;
      row.gone_after = outcome.gone_after;
      if (!outcome.signalled) {
        // Gone between the selection and the signal.
        row.result = row.record && row.record->end() ? "already gone" : outcome.result;
      } else if (outcome.gone_after) {
        row.result = "terminated, verified gone";
      } else {
        row.result = fmt::format("terminated; still in pg_stat_activity after {}",
                                 config::FormatDuration(config->proxy.terminate_wait));
      }
    }
  }
  co_return Finish(rows, "terminate", false, true);
}

Awaitable<absl::StatusOr<CommandResult>> Kill(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<SessionSelection> selection = ParseSessionSelection(
      context.services.sessions, arguments, {.dry_run = true});
  if (!selection.ok()) co_return selection.status();

  std::vector<ActionRow> rows;
  for (const SelectedSession& session : selection->sessions) {
    rows.push_back(FromSession(session, selection->now));
  }
  co_await FillQueryTexts(context, rows);
  if (selection->dry_run) co_return Finish(rows, "kill", true, false);

  for (ActionRow& row : rows) {
    if (row.record->end()) {
      row.result = "already gone";
      continue;
    }
    if (!StillMatches(*selection, SelectedSession{row.record, row.seen})) {
      row.result = "skipped: no longer matches";
      continue;
    }
    std::optional<config::UpstreamConfig> upstream = UpstreamOf(context, row.upstream);
    const int32_t backend_pid = row.record->backend_pid();
    if (upstream && upstream->control_user && backend_pid != 0) {
      const std::vector<int32_t> pids = {backend_pid};
      std::shared_ptr<upstream::ControlConnection> control = context.services.control.For(*upstream);
      std::vector<upstream::TerminateOutcome> outcome = co_await upstream::TerminateBackends(*control, pids);
      row.result = outcome.front().signalled
                       ? "pg_terminate_backend, client closed"
                       : fmt::format("pg_terminate_backend {}, client closed", outcome.front().result);
    } else {
      // Without a control connection: stop what runs, then close the
      // backend's socket, which makes a backend exit once it is idle.
      row.result = "cancel request and backend socket closed (no control_user)";
      if (std::optional<proxy::BackendKey> key = row.record->backend()) {
        absl::Status sent = co_await proxy::ForwardCancelRequest(*key, kCancelTimeout);
        if (!sent.ok()) {
          row.result = fmt::format("backend socket closed; the cancel request failed: {} (no control_user)",
                                   proxy::StatusText(sent));
        }
      }
    }
    if (auto control = row.record->control()) {
      control->Close(proxy::CloseWhen::kNow, std::string(sqlstate::kAdminShutdown),
                     std::string(kTerminatedMessage));
    }
  }
  co_return Finish(rows, "kill", false, false);
}

Awaitable<absl::StatusOr<CommandResult>> KillClient(CommandContext& context,
                                                    ArgumentCursor& arguments) {
  return Kill(context, arguments);
}

}  // namespace pgvalve::admin
