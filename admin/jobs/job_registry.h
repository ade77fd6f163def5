#pragma once
// The long jobs (DRAIN, CUTOVER) started since pgvalve began, the most
// recent ones, for SHOW, CANCEL and "one at a time per database". Control
// thread only.
//
// A Job has `Job(uint64_t id, Options, AdminServices&)`, `id()`,
// `options().database` and `running()`.

#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <string>

#include "admin/commands/command_context.h"

namespace pgvalve::admin {

template <typename Job>
class JobRegistry {
 public:
  template <typename Options>
  std::shared_ptr<Job> Create(Options options, AdminServices& services) {
    auto job = std::make_shared<Job>(next_id_++, std::move(options), services);
    jobs_.emplace(job->id(), job);
    for (auto it = jobs_.begin(); jobs_.size() > kKeptJobs && it != jobs_.end();) {
      it = it->second->running() ? std::next(it) : jobs_.erase(it);
    }
    return job;
  }

  std::shared_ptr<Job> Find(uint64_t id) const {
    auto found = jobs_.find(id);
    return found == jobs_.end() ? nullptr : found->second;
  }

  // A job on `database` that has not finished, if any.
  std::shared_ptr<Job> RunningFor(const std::string& database) const {
    for (const auto& [id, job] : jobs_) {
      if (job->options().database == database && job->running()) return job;
    }
    return nullptr;
  }

  const std::map<uint64_t, std::shared_ptr<Job>>& jobs() const { return jobs_; }

 private:
  // Finished jobs beyond this many are forgotten, oldest first.
  static constexpr size_t kKeptJobs = 50;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::shared_ptr<Job>> jobs_;
};

}  // namespace pgvalve::admin
