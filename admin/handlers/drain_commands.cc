#include "admin/handlers/drain_commands.h"

#include <spdlog/spdlog.h>

#include "admin/commands/route_switch.h"
#include "admin/jobs/drain_dry_run.h"
#include "admin/jobs/drain_registry.h"
#include "admin/jobs/fleet_drain.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/log_text.h"
#include "proxy/status_text.h"

namespace pgvalve::admin {
namespace {

namespace sqlstate = protocol::sqlstate;
using protocol::ColumnType;

// A NOWAIT job. The job is a parameter, so the coroutine frame owns it for
// as long as it runs.
// The drain here, and with a fleet on every other instance too; the job
// lock, taken before, is given back at the end.
Awaitable<absl::Status> RunEverywhere(AdminServices& services, NoticeChannel& notices,
                                      std::shared_ptr<DrainJob> job) {
  if (services.fleet != nullptr) co_return co_await RunFleetDrain(services, notices, std::move(job));
  co_return co_await job->Run(notices);
}

Awaitable<void> RunUnwatched(AdminServices& services, std::shared_ptr<DrainJob> job) {
  DiscardedNotices notices;
  absl::Status outcome = co_await RunEverywhere(services, notices, job);
  spdlog::info("drain job {} of {} ended: {}", job->id(), proxy::QuoteForLog(job->options().database),
               outcome.ok() ? std::string("done") : proxy::EscapeForLog(proxy::StatusText(outcome)));
}

struct DrainRequest {
  DrainOptions options;
  bool nowait = false;
  bool dry_run = false;
};

absl::Status Repeated(std::string_view option) {
  return protocol::ErrorWithSqlState(sqlstate::kSyntaxError,
                                     fmt::format("{} given more than once", option));
}

absl::StatusOr<DrainRequest> ParseDrain(ArgumentCursor& arguments) {
  DrainRequest request;
  absl::StatusOr<std::string> database = arguments.ExpectName("a database name");
  if (!database.ok()) return database.status();
  request.options.database = *std::move(database);
  bool grace = false, then = false, timeout = false, except = false;
  while (!arguments.AtEnd()) {
    // Filter clauses first: EXCEPT USER is theirs, EXCEPT ROLE the drain's.
    const size_t before = arguments.position();
    if (absl::Status filter = ParseSessionFilter(arguments, request.options.filter); !filter.ok()) {
      return filter;
    }
    if (arguments.position() != before) continue;
    if (arguments.AcceptKeyword("GRACE")) {
      if (grace) return Repeated("GRACE");
      grace = true;
      absl::StatusOr<std::chrono::milliseconds> value = arguments.ExpectDuration("a duration such as '30s'");
      if (!value.ok()) return value.status();
      request.options.grace = *value;
    } else if (arguments.AcceptKeyword("THEN")) {
      if (then) return Repeated("THEN");
      then = true;
      if (arguments.AcceptKeyword("CANCEL")) {
        request.options.escalation = DrainEscalation::kCancel;
      } else if (arguments.AcceptKeyword("TERMINATE")) {
        request.options.escalation = DrainEscalation::kTerminate;
      } else if (arguments.AcceptKeyword("WAIT")) {
        request.options.escalation = DrainEscalation::kWait;
      } else {
        return arguments.ExpectKeyword("CANCEL, TERMINATE or WAIT");
      }
    } else if (arguments.AcceptKeyword("TIMEOUT")) {
      if (timeout) return Repeated("TIMEOUT");
      timeout = true;
      absl::StatusOr<std::chrono::milliseconds> value = arguments.ExpectDuration("a duration such as '60s'");
      if (!value.ok()) return value.status();
      request.options.timeout = *value;
    } else if (arguments.AcceptKeyword("INCLUDING")) {
      if (request.options.including_direct) return Repeated("INCLUDING DIRECT");
      if (absl::Status direct = arguments.ExpectKeyword("DIRECT"); !direct.ok()) return direct;
      request.options.including_direct = true;
    } else if (arguments.AcceptKeyword("EXCEPT")) {
      if (except) return Repeated("EXCEPT ROLE");
      except = true;
      if (absl::Status role = arguments.ExpectKeyword("ROLE"); !role.ok()) return role;
      absl::StatusOr<std::vector<std::string>> roles = arguments.ExpectNameList("a role name");
      if (!roles.ok()) return roles.status();
      request.options.except_roles = *std::move(roles);
    } else if (arguments.AcceptKeyword("NOWAIT")) {
      if (request.nowait) return Repeated("NOWAIT");
      request.nowait = true;
    } else if (arguments.AcceptKeyword("DRY")) {
      if (absl::Status run = arguments.ExpectKeyword("RUN"); !run.ok()) return run;
      request.dry_run = true;
    } else {
      return arguments.ExpectKeyword(
          "GRACE, THEN, TIMEOUT, INCLUDING DIRECT, EXCEPT ROLE, NOWAIT, DRY RUN or a filter clause");
    }
  }
  if (request.options.EffectiveTimeout() < request.options.grace &&
      request.options.escalation != DrainEscalation::kWait) {
    return protocol::ErrorWithSqlState(sqlstate::kInvalidParameterValue,
                                       "TIMEOUT must not be shorter than GRACE");
  }
  return request;
}

ResultSet ReportOf(const DrainJob& job) {
  ResultSet rows({{"client_id", ColumnType::kInt8},
                  {"backend_pid", ColumnType::kInt4},
                  {"user", ColumnType::kText},
                  {"application_name", ColumnType::kText},
                  {"state_at_start", ColumnType::kText},
                  {"outcome", ColumnType::kText},
                  {"seconds", ColumnType::kFloat8},
                  {"note", ColumnType::kText}});
  for (const DrainedBackend& backend : job.report()) {
    auto& row = rows.AddRow();
    if (backend.client_id) {
      row.Int(static_cast<int64_t>(*backend.client_id));
    } else {
      row.Null();
    }
    row.Int(backend.backend_pid).Text(backend.user).Text(backend.application_name)
        .Text(backend.state_at_start);
    row.Text(DrainOutcomeName(backend.outcome));
    if (backend.seconds) {
      row.Double(*backend.seconds);
    } else {
      row.Null();
    }
    if (backend.note.empty()) {
      row.Null();
    } else {
      row.Text(backend.note);
    }
  }
  return rows;
}

absl::StatusOr<uint64_t> ExpectJobId(ArgumentCursor& arguments) {
  absl::StatusOr<int64_t> id = arguments.ExpectInteger("a drain job id");
  if (!id.ok()) return id.status();
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) return end;
  return static_cast<uint64_t>(*id);
}

absl::Status NoSuchJob(uint64_t id) {
  return protocol::ErrorWithSqlState(sqlstate::kUndefinedObject,
                                     fmt::format("no drain job with id {}; SHOW DRAINS lists them", id));
}

}  // namespace

Awaitable<absl::StatusOr<CommandResult>> Drain(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<DrainRequest> request = ParseDrain(arguments);
  if (!request.ok()) co_return request.status();
  if (request->dry_run) {
    absl::StatusOr<ResultSet> plan = co_await DrainDryRun(context, request->options);
    if (!plan.ok()) co_return plan.status();
    const size_t count = plan->row_count();
    co_return CommandResult{*std::move(plan), fmt::format("DRAIN DRY RUN {}", count)};
  }
  DrainRegistry& drains = context.services.drains;
  // One DRAIN or CUTOVER of a database at a time in the whole fleet; the
  // lock first, so that the error names the instance that runs it.
  const std::string& database = request->options.database;
  absl::Status locked = co_await LockFleetJob(context.services, database,
                                              fmt::format("DRAIN by {}", CallerName(context.caller)));
  if (!locked.ok()) co_return locked;
  if (auto running = drains.RunningFor(database)) {
    co_await UnlockFleetJob(context.services, database);
    co_return protocol::ErrorWithSqlState(
        sqlstate::kObjectNotInPrerequisiteState,
        fmt::format("a drain of \"{}\" is already running (job {})", database, running->id()));
  }
  std::shared_ptr<DrainJob> job = drains.Create(request->options, context.services);

  if (request->nowait) {
    proxy::asio::co_spawn(co_await proxy::asio::this_coro::executor, RunUnwatched(context.services, job),
                          proxy::asio::detached);
    ResultSet rows({{"job_id", ColumnType::kInt8}, {"database", ColumnType::kText}});
    rows.AddRow().Int(static_cast<int64_t>(job->id())).Text(job->options().database);
    co_return CommandResult{std::move(rows), "DRAIN"};
  }

  absl::Status outcome = co_await RunEverywhere(context.services, context.notices, job);
  if (!outcome.ok()) {
    // The report of a failed drain stays available under its job id.
    co_return protocol::WithDetail(
        outcome, protocol::DetailOf(outcome) +
                     fmt::format("{}SHOW DRAIN {} has the per-session report.",
                                 protocol::DetailOf(outcome).empty() ? "" : "\n", job->id()));
  }
  ResultSet rows = ReportOf(*job);
  const size_t count = rows.row_count();
  co_return CommandResult{std::move(rows), fmt::format("DRAIN {}", count)};
}

Awaitable<absl::StatusOr<CommandResult>> ShowDrains(CommandContext& context, ArgumentCursor& arguments) {
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  ResultSet rows({{"job_id", ColumnType::kInt8},
                  {"database", ColumnType::kText},
                  {"phase", ColumnType::kText},
                  {"then", ColumnType::kText},
                  {"started", ColumnType::kText},
                  {"seconds", ColumnType::kFloat8},
                  {"backends", ColumnType::kInt8},
                  {"left", ColumnType::kInt8},
                  {"progress", ColumnType::kText}});
  for (const auto& [id, job] : context.services.drains.jobs()) {
    rows.AddRow()
        .Int(static_cast<int64_t>(id))
        .Text(job->options().database)
        .Text(PhaseName(job->phase()))
        .Text(EscalationName(job->options().escalation))
        .Time(job->started_at())
        .Double(job->elapsed_seconds().value_or(0))
        .Int(static_cast<int64_t>(job->report().size()))
        .Int(static_cast<int64_t>(job->BackendsLeft()))
        .Text(job->ProgressText());
  }
  co_return CommandResult{std::move(rows), "SHOW"};
}

Awaitable<absl::StatusOr<CommandResult>> ShowDrain(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<uint64_t> id = ExpectJobId(arguments);
  if (!id.ok()) co_return id.status();
  std::shared_ptr<DrainJob> job = context.services.drains.Find(*id);
  if (!job) co_return NoSuchJob(*id);
  co_return CommandResult{ReportOf(*job), "SHOW"};
}

Awaitable<absl::StatusOr<CommandResult>> CancelDrain(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<uint64_t> id = ExpectJobId(arguments);
  if (!id.ok()) co_return id.status();
  std::shared_ptr<DrainJob> job = context.services.drains.Find(*id);
  if (!job) co_return NoSuchJob(*id);
  if (job->phase() != DrainPhase::kGrace && job->phase() != DrainPhase::kEscalated) {
    co_return protocol::ErrorWithSqlState(
        sqlstate::kObjectNotInPrerequisiteState,
        fmt::format("drain job {} has already ended ({})", *id, PhaseName(job->phase())));
  }
  job->Cancel();
  co_return CommandResult{std::nullopt, "CANCEL DRAIN"};
}

}  // namespace pgvalve::admin
