#include "admin/jobs/fleet_backends.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>

#include "admin/commands/command_support.h"
#include "fleet/fleet.h"
#include "proxy/log_text.h"
#include "proxy/status_text.h"

namespace pgvalve::admin {

Awaitable<void> ListFleetBackends(AdminServices& services, std::string_view kind, const std::string& database) {
  if (services.fleet == nullptr) co_return;
  // Copied: the caller's view may not outlive the first suspension.
  const std::string job_kind(kind);
  fleet::FleetBackends backends{.instance = services.fleet->id()};
  for (const auto& session : SessionsOf(services.sessions, database)) {
    if (session->backend_pid() != 0) backends.pids.push_back(session->backend_pid());
  }
  const size_t listed = backends.pids.size();
  absl::Status written = co_await services.fleet->ReportJob(job_kind, database, fleet::EncodeBackends(backends),
                                                            fleet::JobPart::kBackends);
  if (!written.ok()) {
    spdlog::warn("fleet: the backends of {} were not listed for the {}: {}", proxy::QuoteForLog(database), job_kind,
                 proxy::StatusText(written));
    co_return;
  }
  spdlog::debug("fleet: {} backend(s) of {} listed for the {}", listed, proxy::QuoteForLog(database), job_kind);
}

Awaitable<FleetBackendLists> GatherFleetBackends(AdminServices& services, std::string_view kind,
                                                 const std::string& database,
                                                 const std::vector<std::string>& others) {
  FleetBackendLists lists;
  if (services.fleet == nullptr || others.empty()) co_return lists;
  const auto deadline = std::chrono::steady_clock::now() + 2 * services.config.Current()->fleet.ack_timeout;
  const std::map<std::string, std::string> documents = co_await services.fleet->WaitForJobReports(
      kind, database, others, deadline, fleet::JobPart::kBackends);
  for (const std::string& instance : others) {
    auto document = documents.find(instance);
    absl::StatusOr<fleet::FleetBackends> backends = absl::NotFoundError("not listed");
    if (document != documents.end()) backends = fleet::DecodeBackends(document->second);
    if (!backends.ok()) {
      lists.missing.push_back(instance);
      continue;
    }
    lists.pids.insert(backends->pids.begin(), backends->pids.end());
  }
  co_return lists;
}

}  // namespace pgvalve::admin
