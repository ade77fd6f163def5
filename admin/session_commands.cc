#include "admin/session_commands.h"

#include <limits>
#include <map>

#include "admin/backend_terminator.h"
#include "admin/command_support.h"
#include "admin/control_connections.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/cancel_forwarder.h"
#include "proxy/status_text.h"

namespace pgvalve::admin {
namespace {

namespace sqlstate = protocol::sqlstate;
using protocol::ColumnType;
using proxy::SessionRecord;
using proxy::SessionState;
using Sessions = std::vector<std::shared_ptr<SessionRecord>>;

constexpr std::chrono::milliseconds kCancelTimeout{5000};
constexpr std::string_view kTerminatedMessage = "terminating connection due to administrator command";

struct Targets {
  Sessions sessions;
  std::optional<std::string> database;  // set for DATABASE db
};

// id | BACKEND pid | DATABASE db
absl::StatusOr<Targets> ParseTargets(CommandContext& context, ArgumentCursor& arguments) {
  const proxy::SessionRegistry& registry = context.services.server.sessions();
  if (arguments.AcceptKeyword("DATABASE")) {
    absl::StatusOr<std::string> database = arguments.ExpectName("a database name");
    if (!database.ok()) return database.status();
    return Targets{SessionsOf(registry, *database), *database};
  }
  const bool by_backend = arguments.AcceptKeyword("BACKEND");
  absl::StatusOr<int64_t> number =
      arguments.ExpectInteger(by_backend ? "a backend pid" : "a client id, BACKEND pid or DATABASE db");
  if (!number.ok()) return number.status();
  // A pid is an int4; anything outside must not wrap onto a real pid.
  if (*number <= 0 || (by_backend && *number > std::numeric_limits<int32_t>::max())) {
    return protocol::ErrorWithSqlState(
        sqlstate::kInvalidParameterValue,
        fmt::format("{} {} is out of range", by_backend ? "backend pid" : "client id", *number));
  }
  std::shared_ptr<SessionRecord> record =
      by_backend ? registry.FindByBackendPid(static_cast<int32_t>(*number))
                 : registry.Find(static_cast<uint64_t>(*number));
  if (!record) {
    return protocol::ErrorWithSqlState(
        sqlstate::kUndefinedObject,
        by_backend ? fmt::format("no pgvalve session has backend pid {}", *number)
                   : fmt::format("no client session with id {}", *number));
  }
  return Targets{{std::move(record)}, std::nullopt};
}

// The current configuration's entry for the upstream a session runs on.
std::optional<config::UpstreamConfig> UpstreamOf(CommandContext& context, const std::string& name) {
  auto config = context.services.server.config().Current();
  auto found = config->upstreams.find(name);
  if (found == config->upstreams.end()) return std::nullopt;
  return found->second;
}

ResultSet SessionActionColumns(std::string_view action_column) {
  return ResultSet({{"client_id", ColumnType::kInt8},
                    {"backend_pid", ColumnType::kInt4},
                    {"user", ColumnType::kText},
                    {"application_name", ColumnType::kText},
                    {"state", ColumnType::kText},
                    {std::string(action_column), ColumnType::kText}});
}

}  // namespace

Awaitable<absl::StatusOr<CommandResult>> Cancel(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<Targets> targets = ParseTargets(context, arguments);
  if (!targets.ok()) co_return targets.status();
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;

  ResultSet rows = SessionActionColumns("result");
  for (const auto& record : targets->sessions) {
    const proxy::SessionSnapshot session = record->Snapshot();
    std::string result;
    std::optional<proxy::BackendKey> key = record->backend();
    if (!key) {
      result = "skipped: still starting";
    } else if (targets->database && session.state != SessionState::kActive) {
      // For a whole database only running queries are hit; a cancel sent to
      // an idle session could land on the next query it starts.
      result = "skipped: not running a query";
    } else {
      absl::Status sent = co_await proxy::ForwardCancelRequest(*key, kCancelTimeout);
      result = sent.ok() ? "cancel request sent"
                         : fmt::format("failed: {}", proxy::StatusText(sent));
    }
    rows.AddRow()
        .Int(static_cast<int64_t>(session.identity.id))
        .Int(session.backend_pid)
        .Text(session.identity.user)
        .Text(session.application_name)
        .Text(proxy::SessionStateName(session.state))
        .Text(result);
  }
  const size_t count = rows.row_count();
  co_return CommandResult{std::move(rows), fmt::format("CANCEL {}", count)};
}

Awaitable<absl::StatusOr<CommandResult>> Terminate(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<Targets> targets = ParseTargets(context, arguments);
  if (!targets.ok()) co_return targets.status();
  bool including_direct = false;
  if (arguments.AcceptKeyword("INCLUDING")) {
    if (absl::Status direct = arguments.ExpectKeyword("DIRECT"); !direct.ok()) co_return direct;
    if (!targets->database) {
      co_return protocol::ErrorWithSqlState(sqlstate::kSyntaxError,
                                            "INCLUDING DIRECT applies to TERMINATE DATABASE db");
    }
    including_direct = true;
  }
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;

  auto config = context.services.server.config().Current();
  // Sessions grouped by the upstream their backend is on.
  std::map<std::string, Sessions> by_upstream;
  for (const auto& record : targets->sessions) by_upstream[record->identity().upstream].push_back(record);
  if (including_direct) {
    const config::UpstreamConfig* routed = config->UpstreamFor(*targets->database);
    if (routed == nullptr) {
      co_return protocol::ErrorWithSqlState(
          sqlstate::kInvalidCatalogName,
          fmt::format("pgvalve has no route for database \"{}\"", *targets->database));
    }
    // Direct backends can only be found and signalled through the control
    // connection; without one, claiming to have ended them would be a lie.
    if (!routed->control_user) {
      co_return protocol::ErrorWithSqlState(
          sqlstate::kObjectNotInPrerequisiteState,
          fmt::format("INCLUDING DIRECT needs control_user on upstream \"{}\"", routed->name));
    }
    by_upstream[routed->name];
  }

  ResultSet rows({{"client_id", ColumnType::kInt8},
                  {"backend_pid", ColumnType::kInt4},
                  {"user", ColumnType::kText},
                  {"application_name", ColumnType::kText},
                  {"upstream", ColumnType::kText},
                  {"result", ColumnType::kText},
                  {"gone", ColumnType::kBool},
                  {"seconds", ColumnType::kFloat8}});
  for (auto& [upstream_name, sessions] : by_upstream) {
    std::optional<config::UpstreamConfig> upstream = UpstreamOf(context, upstream_name);
    std::vector<int32_t> pids;
    for (const auto& record : sessions) pids.push_back(record->backend_pid());
    if (!upstream || !upstream->control_user) {
      const std::string reason =
          upstream ? fmt::format("failed: upstream \"{}\" has no control_user", upstream_name)
                   : fmt::format("failed: upstream \"{}\" is no longer configured", upstream_name);
      for (const auto& record : sessions) {
        rows.AddRow().Int(static_cast<int64_t>(record->id())).Int(record->backend_pid())
            .Text(record->identity().user).Text(record->Snapshot().application_name)
            .Text(upstream_name).Text(reason).Bool(false).Null();
      }
      continue;
    }
    std::shared_ptr<ControlConnection> control = context.services.control.For(*upstream);
    std::vector<TerminateOutcome> outcomes = co_await TerminateBackends(*control, pids);
    for (size_t i = 0; i < outcomes.size(); ++i) {
      outcomes[i].user = sessions[i]->identity().user;
      outcomes[i].application_name = sessions[i]->Snapshot().application_name;
    }
    const size_t pgvalve_count = outcomes.size();
    if (including_direct && upstream->name == config->UpstreamFor(*targets->database)->name) {
      absl::StatusOr<std::vector<TerminateOutcome>> direct =
          co_await TerminateDirectBackends(*control, *targets->database, pids);
      if (!direct.ok()) co_return direct.status();
      outcomes.insert(outcomes.end(), direct->begin(), direct->end());
    }
    co_await AwaitBackendsGone(*control, outcomes, config->proxy.terminate_wait);
    for (size_t i = 0; i < outcomes.size(); ++i) {
      const TerminateOutcome& outcome = outcomes[i];
      auto& row = rows.AddRow();
      if (i < pgvalve_count) {
        row.Int(static_cast<int64_t>(sessions[i]->id()));
      } else {
        row.Null();
      }
      row.Int(outcome.pid).Text(outcome.user).Text(outcome.application_name).Text(upstream_name)
          .Text(outcome.result).Bool(outcome.gone_after.has_value());
      if (outcome.gone_after) {
        row.Double(*outcome.gone_after);
      } else {
        row.Null();
      }
    }
  }
  const size_t count = rows.row_count();
  co_return CommandResult{std::move(rows), fmt::format("TERMINATE {}", count)};
}

Awaitable<absl::StatusOr<CommandResult>> Kill(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<Targets> targets = ParseTargets(context, arguments);
  if (!targets.ok()) co_return targets.status();
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;

  ResultSet rows = SessionActionColumns("method");
  for (const auto& record : targets->sessions) {
    const proxy::SessionSnapshot session = record->Snapshot();
    std::optional<config::UpstreamConfig> upstream = UpstreamOf(context, session.identity.upstream);
    std::string method;
    if (upstream && upstream->control_user && session.backend_pid != 0) {
      const std::vector<int32_t> pids = {session.backend_pid};
      std::shared_ptr<ControlConnection> control = context.services.control.For(*upstream);
      std::vector<TerminateOutcome> outcome = co_await TerminateBackends(*control, pids);
      method = outcome.front().signalled
                   ? "pg_terminate_backend, client closed"
                   : fmt::format("pg_terminate_backend {}, client closed", outcome.front().result);
    } else {
      // Without a control connection: stop what runs, then close the
      // backend's socket, which makes a backend exit once it is idle.
      if (std::optional<proxy::BackendKey> key = record->backend()) {
        co_await proxy::ForwardCancelRequest(*key, kCancelTimeout);
      }
      method = "cancel request and backend socket closed (no control_user)";
    }
    if (auto control = record->control()) {
      control->Close(proxy::CloseWhen::kNow, std::string(sqlstate::kAdminShutdown),
                     std::string(kTerminatedMessage));
    }
    rows.AddRow()
        .Int(static_cast<int64_t>(session.identity.id))
        .Int(session.backend_pid)
        .Text(session.identity.user)
        .Text(session.application_name)
        .Text(proxy::SessionStateName(session.state))
        .Text(method);
  }
  const size_t count = rows.row_count();
  co_return CommandResult{std::move(rows), fmt::format("KILL {}", count)};
}

Awaitable<absl::StatusOr<CommandResult>> KillClient(CommandContext& context,
                                                    ArgumentCursor& arguments) {
  return Kill(context, arguments);
}

}  // namespace pgvalve::admin
