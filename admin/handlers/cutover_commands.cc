#include "admin/handlers/cutover_commands.h"

#include <spdlog/spdlog.h>

#include "admin/commands/command_support.h"
#include "admin/commands/route_switch.h"
#include "admin/jobs/cutover_registry.h"
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

// Runs the job, then gives back the fleet's job lock of its database,
// taken before (nothing without a fleet).
Awaitable<absl::Status> RunLocked(AdminServices& services, NoticeChannel& notices,
                                  std::shared_ptr<CutoverJob> job) {
  absl::Status outcome = co_await job->Run(notices);
  co_await UnlockFleetJob(services, job->options().database);
  co_return outcome;
}

// A NOWAIT job. The job is a parameter, so the coroutine frame owns it for
// as long as it runs.
Awaitable<void> RunUnwatched(AdminServices& services, std::shared_ptr<CutoverJob> job) {
  DiscardedNotices notices;
  absl::Status outcome = co_await RunLocked(services, notices, job);
  if (!outcome.ok()) {
    spdlog::warn("cutover {} of {} ended: {}", job->id(), proxy::QuoteForLog(job->options().database),
                 proxy::EscapeForLog(proxy::StatusText(outcome)));
  }
}

ResultSet ReportOf(const CutoverJob& job) {
  ResultSet rows({{"item", ColumnType::kText},
                  {"status", ColumnType::kText},
                  {"seconds", ColumnType::kFloat8},
                  {"detail", ColumnType::kText}});
  for (const CutoverLine& line : job.report()) {
    auto& row = rows.AddRow().Text(line.item).Text(CutoverLineStatusName(line.status));
    if (line.seconds) {
      row.Double(*line.seconds);
    } else {
      row.Null();
    }
    row.Text(line.detail);
  }
  if (job.outcome() == CutoverOutcome::kPlanned) return rows;
  const CutoverCounts& counts = job.counts();
  rows.AddRow()
      .Text("hold window")
      .Text("ok")
      .Double(counts.hold_seconds)
      .Text(fmt::format("{} new session(s) and {} request(s) held: p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms",
                        counts.held_new_sessions, counts.held_requests, counts.held_p50_ms, counts.held_p99_ms,
                        counts.held_max_ms));
  rows.AddRow()
      .Text("sessions")
      .Text("ok")
      .Null()
      .Text(fmt::format("{} closed at their boundary on {}, {} terminated, {} cancelled, {} direct terminated",
                        counts.closed, job.source(), counts.terminated, counts.cancelled,
                        counts.direct_terminated));
  rows.AddRow()
      .Text("outcome")
      .Text(job.outcome() == CutoverOutcome::kRolledBack ? "failed" : "ok")
      .Double(job.elapsed_seconds())
      .Text(job.outcome() == CutoverOutcome::kRolledBack
                ? fmt::format("rolled back at {}", job.error())
                : fmt::format("{}; {} to {}{}", CutoverOutcomeName(job.outcome()), job.source(),
                              job.options().target, job.lsn().empty() ? "" : ", LSN " + job.lsn()));
  return rows;
}

absl::StatusOr<uint64_t> ExpectJobId(ArgumentCursor& arguments) {
  absl::StatusOr<int64_t> id = arguments.ExpectInteger("a cutover id");
  if (!id.ok()) return id.status();
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) return end;
  return static_cast<uint64_t>(*id);
}

absl::Status NoSuchJob(uint64_t id) {
  return protocol::ErrorWithSqlState(sqlstate::kUndefinedObject,
                                     fmt::format("no cutover with id {}; SHOW CUTOVERS lists them", id));
}

}  // namespace

Awaitable<absl::StatusOr<CommandResult>> Cutover(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<CutoverOptions> options = ParseCutover(arguments);
  if (!options.ok()) co_return options.status();
  CutoverRegistry& cutovers = context.services.cutovers;
  if (options->dry_run) {
    std::shared_ptr<CutoverJob> plan = cutovers.Create(*options, context.services);
    absl::Status planned = co_await plan->Run(context.notices);
    if (!planned.ok()) co_return planned;
    co_return CommandResult{ReportOf(*plan), "CUTOVER DRY RUN"};
  }
  // One DRAIN or CUTOVER of a database at a time in the whole fleet; the
  // lock first, so that the error names the instance that runs it.
  absl::Status locked = co_await LockFleetJob(context.services, options->database,
                                              fmt::format("CUTOVER by {}", CallerName(context.caller)));
  if (!locked.ok()) co_return locked;
  absl::Status busy;
  if (auto running = cutovers.RunningFor(options->database)) {
    busy = protocol::ErrorWithSqlState(
        sqlstate::kObjectNotInPrerequisiteState,
        fmt::format("a cutover of \"{}\" is already running (id {})", options->database, running->id()));
  } else if (auto drain = context.services.drains.RunningFor(options->database)) {
    busy = protocol::ErrorWithSqlState(
        sqlstate::kObjectNotInPrerequisiteState,
        fmt::format("a drain of \"{}\" is running (job {}); CANCEL DRAIN {} first", options->database,
                    drain->id(), drain->id()));
  }
  if (!busy.ok()) {
    co_await UnlockFleetJob(context.services, options->database);
    co_return busy;
  }
  std::shared_ptr<CutoverJob> job = cutovers.Create(*options, context.services);
  if (options->nowait) {
    proxy::asio::co_spawn(co_await proxy::asio::this_coro::executor, RunUnwatched(context.services, job),
                          proxy::asio::detached);
    ResultSet rows({{"cutover_id", ColumnType::kInt8}, {"database", ColumnType::kText}});
    rows.AddRow().Int(static_cast<int64_t>(job->id())).Text(job->options().database);
    co_return CommandResult{std::move(rows), "CUTOVER"};
  }
  absl::Status outcome = co_await RunLocked(context.services, context.notices, job);
  if (!outcome.ok()) co_return outcome;
  co_return CommandResult{ReportOf(*job), "CUTOVER"};
}

Awaitable<absl::StatusOr<CommandResult>> ShowCutovers(CommandContext& context, ArgumentCursor& arguments) {
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  ResultSet rows({{"id", ColumnType::kInt8},
                  {"database", ColumnType::kText},
                  {"source", ColumnType::kText},
                  {"target", ColumnType::kText},
                  {"mode", ColumnType::kText},
                  {"step", ColumnType::kText},
                  {"outcome", ColumnType::kText},
                  {"started", ColumnType::kText},
                  {"seconds", ColumnType::kFloat8},
                  {"held_new_sessions", ColumnType::kInt8},
                  {"held_requests", ColumnType::kInt8},
                  {"held_p50_ms", ColumnType::kFloat8},
                  {"held_p99_ms", ColumnType::kFloat8},
                  {"held_max_ms", ColumnType::kFloat8},
                  {"hold_seconds", ColumnType::kFloat8},
                  {"closed", ColumnType::kInt8},
                  {"terminated", ColumnType::kInt8},
                  {"cancelled", ColumnType::kInt8},
                  {"direct_terminated", ColumnType::kInt8},
                  {"sequences_synced", ColumnType::kInt8},
                  {"lsn", ColumnType::kText},
                  {"error", ColumnType::kText}});
  for (const auto& [id, job] : context.services.cutovers.jobs()) {
    const CutoverCounts& counts = job->counts();
    auto& row = rows.AddRow()
                    .Int(static_cast<int64_t>(id))
                    .Text(job->options().database)
                    .Text(job->source())
                    .Text(job->options().target)
                    .Text(CutoverModeName(job->options().mode))
                    .Text(CutoverStepName(job->step()))
                    .Text(CutoverOutcomeName(job->outcome()))
                    .Time(job->started_at())
                    .Double(job->elapsed_seconds())
                    .Int(counts.held_new_sessions)
                    .Int(counts.held_requests)
                    .Double(counts.held_p50_ms, 1)
                    .Double(counts.held_p99_ms, 1)
                    .Double(counts.held_max_ms, 1)
                    .Double(counts.hold_seconds)
                    .Int(counts.closed)
                    .Int(counts.terminated)
                    .Int(counts.cancelled)
                    .Int(counts.direct_terminated)
                    .Int(counts.sequences_synced);
    row.OptionalText(job->lsn().empty() ? std::nullopt : std::optional<std::string>(job->lsn()));
    row.OptionalText(job->error().empty() ? std::nullopt : std::optional<std::string>(job->error()));
  }
  co_return CommandResult{std::move(rows), "SHOW"};
}

Awaitable<absl::StatusOr<CommandResult>> ShowCutover(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<uint64_t> id = ExpectJobId(arguments);
  if (!id.ok()) co_return id.status();
  std::shared_ptr<CutoverJob> job = context.services.cutovers.Find(*id);
  if (!job) co_return NoSuchJob(*id);
  co_return CommandResult{ReportOf(*job), "SHOW"};
}

Awaitable<absl::StatusOr<CommandResult>> CancelCutover(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<uint64_t> id = ExpectJobId(arguments);
  if (!id.ok()) co_return id.status();
  std::shared_ptr<CutoverJob> job = context.services.cutovers.Find(*id);
  if (!job) co_return NoSuchJob(*id);
  if (!job->Cancel()) {
    co_return protocol::ErrorWithSqlState(
        sqlstate::kObjectNotInPrerequisiteState,
        job->running() ? fmt::format("cutover {} has switched already: it can no longer roll back", *id)
                       : fmt::format("cutover {} has already ended ({})", *id, CutoverOutcomeName(job->outcome())));
  }
  co_return CommandResult{std::nullopt, "CANCEL CUTOVER"};
}

}  // namespace pgvalve::admin
