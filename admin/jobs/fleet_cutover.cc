#include "admin/jobs/fleet_cutover.h"

#include <spdlog/spdlog.h>

#include <map>
#include <memory>

#include "admin/commands/command_support.h"
#include "admin/jobs/cutover_options.h"
#include "admin/jobs/fleet_backends.h"
#include "fleet/fleet.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/log_text.h"
#include "proxy/status_text.h"
#include "upstream/backend_signals.h"
#include "upstream/control_connections.h"

namespace pgvalve::admin {
namespace {

namespace sqlstate = protocol::sqlstate;
using std::chrono::steady_clock;

constexpr std::string_view kCutover = fleet::kCutoverJob;
constexpr std::chrono::seconds kLookInterval{1};

bool AtBoundary(proxy::SessionState state) {
  return state == proxy::SessionState::kIdle || state == proxy::SessionState::kHeld;
}

// After GRACE, what the runner's THEN says, as the runner does to its own
// sessions: TERMINATE ends each backend through its upstream's control
// connection, so that a statement that ignores its cancel cannot commit
// on the old server later; CANCEL (and a session whose upstream has no
// control_user, or whose backend could not be terminated) cancels the
// running statement and closes the session. How many were ended.
Awaitable<uint64_t> EndInTransaction(AdminServices& services, const fleet::FleetCutover& cutover,
                                     const std::vector<std::shared_ptr<proxy::SessionRecord>>& unsettled,
                                     const std::string& message) {
  const bool terminate = cutover.escalation == CutoverEscalationName(CutoverEscalation::kTerminate);
  auto config = services.config.Current();
  std::map<std::string, std::vector<std::shared_ptr<proxy::SessionRecord>>> by_upstream;
  std::vector<std::shared_ptr<proxy::SessionRecord>> to_close;
  for (const auto& session : unsettled) {
    auto upstream = config->upstreams.find(session->upstream());
    if (terminate && session->backend_pid() != 0 && upstream != config->upstreams.end() &&
        upstream->second.control_user) {
      by_upstream[upstream->first].push_back(session);
    } else {
      to_close.push_back(session);
    }
  }
  uint64_t ended = 0;
  for (const auto& [name, sessions] : by_upstream) {
    std::vector<int32_t> pids;
    for (const auto& session : sessions) pids.push_back(session->backend_pid());
    std::shared_ptr<upstream::ControlConnection> control = services.control.For(config->upstreams.at(name));
    std::vector<upstream::TerminateOutcome> outcomes = co_await upstream::TerminateBackends(*control, pids);
    for (size_t i = 0; i < outcomes.size() && i < sessions.size(); ++i) {
      if (outcomes[i].signalled) {
        ++ended;
        continue;
      }
      spdlog::warn("fleet: cutover {} of {}: backend pid {} not terminated ({}); its statement is cancelled and "
                   "its session closed",
                   cutover.job, proxy::QuoteForLog(cutover.database), outcomes[i].pid, outcomes[i].result);
      to_close.push_back(sessions[i]);
    }
  }
  for (const auto& session : to_close) {
    if (auto control = session->control()) {
      control->CloseAndCancelRunning(std::string(sqlstate::kAdminShutdown), message);
      ++ended;
    }
  }
  co_return ended;
}

}  // namespace

Awaitable<absl::Status> AnnounceFleetHold(AdminServices& services, const fleet::FleetCutover& cutover,
                                         std::vector<std::string>& others) {
  others.clear();
  if (services.fleet == nullptr) co_return absl::OkStatus();
  fleet::Fleet& fleet = *services.fleet;
  for (const fleet::InstanceRecord& instance : fleet.directory().Instances()) {
    if (instance.id != fleet.id()) others.push_back(instance.id);
  }
  absl::Status announced = co_await fleet.AnnounceJob(kCutover, cutover.database, fleet::EncodeCutover(cutover));
  if (announced.ok()) co_return announced;
  co_return protocol::ErrorWithSqlState(sqlstate::kConnectionFailure,
                                        "the hold could not be announced to the fleet: " +
                                            std::string(proxy::StatusText(announced)));
}

Awaitable<absl::Status> WaitForFleetHold(AdminServices& services, NoticeChannel& notices,
                                        const std::string& database, const std::vector<std::string>& others,
                                        steady_clock::time_point deadline) {
  if (services.fleet == nullptr || others.empty()) co_return absl::OkStatus();
  const std::map<std::string, std::string> reports =
      co_await services.fleet->WaitForJobReports(kCutover, database, others, deadline);
  std::string missing;
  for (const std::string& instance : others) {
    // No conditional expressions of strings here: GCC 12 mishandles their
    // temporaries in coroutines.
    std::string why = "no report";
    auto found = reports.find(instance);
    if (found != reports.end()) {
      absl::StatusOr<fleet::FleetCutoverReport> report = fleet::DecodeCutoverReport(found->second);
      if (report.ok() && report->held) {
        std::string held = fmt::format("instance {} holds its sessions of {}", instance, database);
        if (report->closed > 0) held += fmt::format(" ({} closed after GRACE)", report->closed);
        co_await notices.Notice(std::move(held));
        continue;
      }
      why = report.ok() ? report->error : std::string(report.status().message());
    }
    if (!missing.empty()) missing += "\n";
    missing += fmt::format("instance {}: {}", instance, why);
  }
  if (missing.empty()) co_return absl::OkStatus();
  co_return protocol::WithDetail(
      protocol::ErrorWithSqlState(sqlstate::kObjectInUse,
                                  fmt::format("not every instance of the fleet holds its sessions of {}",
                                              database)),
      missing);
}

Awaitable<void> EndFleetCutover(AdminServices& services, const std::string& database) {
  if (services.fleet != nullptr) co_await services.fleet->EndJob(kCutover, database);
}

Awaitable<void> FollowFleetCutover(AdminServices& services, fleet::FleetCutover cutover) {
  if (services.fleet == nullptr) co_return;
  spdlog::info("fleet: instance {} cuts {} over to {} (its cutover {}): holding this instance's sessions",
               proxy::QuoteForLog(cutover.instance), proxy::QuoteForLog(cutover.database),
               proxy::QuoteForLog(cutover.target), cutover.job);
  // For the runner's INCLUDING DIRECT: listed under the PAUSE already in
  // force, so that no new session adds a backend afterwards.
  co_await ListFleetBackends(services, kCutover, cutover.database);
  auto gate = services.databases.Gate(cutover.database);
  GateWatcher watcher(co_await proxy::asio::this_coro::executor, gate);
  const auto grace_ends = steady_clock::now() + std::chrono::milliseconds(cutover.grace_ms);
  const auto give_up = grace_ends + std::chrono::milliseconds(cutover.timeout_ms);
  const std::string message = fmt::format(
      "terminating connection: database \"{}\" is being moved to another server (cutover {} on instance {})",
      cutover.database, cutover.job, cutover.instance);
  fleet::FleetCutoverReport report{.instance = services.fleet->id()};
  bool escalated = false;
  while (true) {
    std::vector<std::shared_ptr<proxy::SessionRecord>> unsettled;
    for (auto& session : SessionsOf(services.sessions, cutover.database)) {
      if (!AtBoundary(session->state())) unsettled.push_back(std::move(session));
    }
    if (unsettled.empty()) break;
    const auto now = steady_clock::now();
    if (now >= give_up) {
      report.error = fmt::format("{} session(s) still in a transaction", unsettled.size());
      break;
    }
    if (!escalated && now >= grace_ends) {
      escalated = true;
      report.closed += co_await EndInTransaction(services, cutover, unsettled, message);
    }
    co_await watcher.WaitUntil(std::min(escalated ? give_up : grace_ends, now + kLookInterval));
  }
  report.held = report.error.empty();
  std::string outcome = report.error;
  if (report.held) outcome = fmt::format("this instance holds its sessions ({} closed after GRACE)", report.closed);
  spdlog::info("fleet: cutover {} of {} on instance {}: {}", cutover.job, proxy::QuoteForLog(cutover.database),
               proxy::QuoteForLog(cutover.instance), outcome);
  absl::Status reported = co_await services.fleet->ReportJob(kCutover, cutover.database,
                                                             fleet::EncodeCutoverReport(report));
  if (!reported.ok()) spdlog::warn("fleet: the hold could not be reported: {}", proxy::StatusText(reported));
}

}  // namespace pgvalve::admin
