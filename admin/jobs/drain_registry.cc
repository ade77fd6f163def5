#include "admin/jobs/drain_registry.h"

namespace pgvalve::admin {
namespace {

bool Running(const DrainJob& job) {
  return job.phase() == DrainPhase::kGrace || job.phase() == DrainPhase::kEscalated;
}

}  // namespace

std::shared_ptr<DrainJob> DrainRegistry::Create(DrainOptions options, AdminServices& services) {
  auto job = std::make_shared<DrainJob>(next_id_++, std::move(options), services);
  jobs_.emplace(job->id(), job);
  for (auto it = jobs_.begin(); jobs_.size() > kKeptJobs && it != jobs_.end();) {
    it = Running(*it->second) ? std::next(it) : jobs_.erase(it);
  }
  return job;
}

std::shared_ptr<DrainJob> DrainRegistry::Find(uint64_t id) const {
  auto found = jobs_.find(id);
  return found == jobs_.end() ? nullptr : found->second;
}

std::shared_ptr<DrainJob> DrainRegistry::RunningFor(const std::string& database) const {
  for (const auto& [id, job] : jobs_) {
    if (job->options().database == database && Running(*job)) return job;
  }
  return nullptr;
}

}  // namespace pgvalve::admin
