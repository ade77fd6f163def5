#include "admin/jobs/fleet_drain.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <vector>

#include "admin/jobs/fleet_backends.h"
#include "admin/jobs/job_registry.h"
#include "fleet/fleet.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/log_text.h"
#include "proxy/status_text.h"

namespace pgvalve::admin {
namespace {

namespace sqlstate = protocol::sqlstate;

constexpr std::string_view kDrain = fleet::kDrainJob;

fleet::FleetDrain Announcement(const DrainJob& job, const std::string& instance) {
  const DrainOptions& options = job.options();
  return {.database = options.database,
          .instance = instance,
          .job = job.id(),
          .grace_ms = options.grace.count(),
          .timeout_ms = options.EffectiveTimeout().count(),
          .escalation = std::string(EscalationName(options.escalation)),
          .except_roles = options.except_roles};
}

DrainOptions OptionsOf(const fleet::FleetDrain& drain) {
  DrainOptions options{.database = drain.database,
                       .grace = std::chrono::milliseconds(drain.grace_ms),
                       .timeout = std::chrono::milliseconds(drain.timeout_ms),
                       .except_roles = drain.except_roles,
                       .follows_fleet_drain = true};
  for (DrainEscalation escalation :
       {DrainEscalation::kTerminate, DrainEscalation::kCancel, DrainEscalation::kWait}) {
    if (EscalationName(escalation) == drain.escalation) options.escalation = escalation;
  }
  return options;
}

fleet::FleetDrainReport ReportOf(const DrainJob& job, const std::string& instance, const absl::Status& outcome) {
  fleet::FleetDrainReport report{.instance = instance,
                                 .phase = std::string(PhaseName(job.phase())),
                                 .sessions = job.report().size(),
                                 .left = job.BackendsLeft(),
                                 .error = outcome.ok() ? "" : std::string(proxy::StatusText(outcome))};
  for (const DrainedBackend& backend : job.report()) {
    ++report.outcomes[std::string(DrainOutcomeName(backend.outcome))];
  }
  return report;
}

// "b: 3 session(s) (closed idle 2, terminated 1), none left"
std::string Describe(const fleet::FleetDrainReport& report) {
  std::string outcomes;
  for (const auto& [outcome, count] : report.outcomes) {
    outcomes += fmt::format("{}{} {}", outcomes.empty() ? "" : ", ", outcome, count);
  }
  std::string text = fmt::format("instance {}: {} session(s){}, {}", report.instance, report.sessions,
                                 outcomes.empty() ? "" : " (" + outcomes + ")",
                                 report.left == 0 ? std::string("none left") : fmt::format("{} left", report.left));
  if (!report.error.empty()) text += ": " + report.error;
  return text;
}

}  // namespace

Awaitable<absl::Status> LockFleetJob(AdminServices& services, const std::string& database, const std::string& job) {
  if (services.fleet == nullptr) co_return absl::OkStatus();
  absl::Status locked = co_await services.fleet->LockJob(database, job);
  if (locked.ok()) co_return locked;
  const std::string_view code = locked.code() == absl::StatusCode::kFailedPrecondition
                                    ? sqlstate::kObjectInUse
                                    : sqlstate::kConnectionFailure;
  co_return protocol::ErrorWithSqlState(code, std::string(locked.message()));
}

Awaitable<void> UnlockFleetJob(AdminServices& services, const std::string& database) {
  if (services.fleet != nullptr) co_await services.fleet->UnlockJob(database);
}

Awaitable<absl::Status> RunFleetDrain(AdminServices& services, NoticeChannel& notices,
                                      std::shared_ptr<DrainJob> job) {
  fleet::Fleet& fleet = *services.fleet;
  const std::string database = job->options().database;
  std::vector<std::string> others;
  for (const fleet::InstanceRecord& instance : fleet.directory().Instances()) {
    if (instance.id != fleet.id()) others.push_back(instance.id);
  }
  absl::Status announced =
      co_await fleet.AnnounceJob(kDrain, database, fleet::EncodeDrain(Announcement(*job, fleet.id())));
  if (!announced.ok()) {
    co_await UnlockFleetJob(services, database);
    co_return protocol::ErrorWithSqlState(sqlstate::kConnectionFailure,
                                          "the drain could not be announced to the fleet: " +
                                              std::string(proxy::StatusText(announced)));
  }
  // The others' sessions are theirs to drain, with their GRACE: not
  // direct backends to terminate here.
  std::vector<std::string> unlisted;
  if (job->options().including_direct && !others.empty()) {
    FleetBackendLists lists = co_await GatherFleetBackends(services, kDrain, database, others);
    job->LeaveToOtherInstances(std::move(lists.pids), lists.missing.empty());
    for (const std::string& instance : lists.missing) {
      unlisted.push_back(fmt::format("instance {}: its backends were not listed, so no direct backend was "
                                     "terminated (INCLUDING DIRECT)",
                                     instance));
      co_await notices.Notice(unlisted.back(), "Any backend not of this instance could have been its sessions'.");
    }
  }
  absl::Status outcome = co_await job->Run(notices);
  // The others started when this one did, with the same TIMEOUT; a little
  // more for their reports to arrive.
  const auto ack_timeout = services.config.Current()->fleet.ack_timeout;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      job->options().EffectiveTimeout() - std::chrono::duration<double>(job->elapsed_seconds().value_or(0)));
  const auto deadline =
      std::chrono::steady_clock::now() + std::max(left, std::chrono::milliseconds(0)) + ack_timeout;
  const std::map<std::string, std::string> documents =
      co_await fleet.WaitForJobReports(kDrain, database, others, deadline);
  std::map<std::string, fleet::FleetDrainReport> reports;
  for (const auto& [instance, document] : documents) {
    if (absl::StatusOr<fleet::FleetDrainReport> report = fleet::DecodeDrainReport(document); report.ok()) {
      reports[instance] = *std::move(report);
    }
  }
  co_await fleet.EndJob(kDrain, database);
  co_await UnlockFleetJob(services, database);

  std::vector<std::string> failed = unlisted;
  for (const std::string& instance : others) {
    auto report = reports.find(instance);
    if (report == reports.end()) {
      failed.push_back(fmt::format("instance {}: no report", instance));
      co_await notices.Notice(failed.back(), "It may have stopped, or lost etcd; SHOW FLEET lists the live ones.");
      continue;
    }
    co_await notices.Notice(Describe(report->second));
    if (report->second.left > 0 || !report->second.error.empty()) failed.push_back(Describe(report->second));
  }
  spdlog::info("drain job {} of {}: {} other instance(s) reported, {} did not finish", job->id(),
               proxy::QuoteForLog(database), reports.size(), failed.size());
  if (!outcome.ok() || failed.empty()) co_return outcome;
  std::string detail;
  for (const std::string& line : failed) detail += (detail.empty() ? "" : "\n") + line;
  co_return protocol::WithDetail(
      protocol::ErrorWithSqlState(
          sqlstate::kObjectInUse,
          fmt::format("DRAIN {}: not every other instance of the fleet did its part ({} problem(s))", database,
                      failed.size())),
      detail);
}

Awaitable<void> FollowFleetDrain(AdminServices& services, fleet::FleetDrain drain) {
  if (services.fleet == nullptr) co_return;
  if (std::shared_ptr<DrainJob> running = services.drains.RunningFor(drain.database)) {
    spdlog::warn("fleet: instance {} drains {}, but drain job {} of it already runs here; that one goes on",
                 proxy::QuoteForLog(drain.instance), proxy::QuoteForLog(drain.database), running->id());
    co_return;
  }
  std::shared_ptr<DrainJob> job = services.drains.Create(OptionsOf(drain), services);
  spdlog::info("fleet: instance {} drains {} (its job {}): drain job {} closes this instance's sessions",
               proxy::QuoteForLog(drain.instance), proxy::QuoteForLog(drain.database), drain.job, job->id());
  DiscardedNotices notices;
  const absl::Status outcome = co_await job->Run(notices);
  const fleet::FleetDrainReport report = ReportOf(*job, services.fleet->id(), outcome);
  spdlog::info("fleet: drain job {} of {} ended ({}); reporting to instance {}", job->id(),
               proxy::QuoteForLog(drain.database), report.phase, proxy::QuoteForLog(drain.instance));
  absl::Status reported =
      co_await services.fleet->ReportJob(kDrain, drain.database, fleet::EncodeDrainReport(report));
  if (!reported.ok()) {
    spdlog::warn("fleet: drain job {} could not report to etcd: {}", job->id(), proxy::StatusText(reported));
  }
}

}  // namespace pgvalve::admin
