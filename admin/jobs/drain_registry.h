#pragma once
// The drains started since pgvalve began (the most recent ones), for SHOW
// DRAINS, SHOW DRAIN id and CANCEL DRAIN id. Control thread only.

#include <cstdint>
#include <map>
#include <memory>

#include "admin/jobs/drain_job.h"

namespace pgvalve::admin {

class DrainRegistry {
 public:
  std::shared_ptr<DrainJob> Create(DrainOptions options, AdminServices& services);
  std::shared_ptr<DrainJob> Find(uint64_t id) const;
  // A drain of `database` that has not finished, if any.
  std::shared_ptr<DrainJob> RunningFor(const std::string& database) const;
  const std::map<uint64_t, std::shared_ptr<DrainJob>>& jobs() const { return jobs_; }

 private:
  // Finished jobs beyond this many are forgotten, oldest first.
  static constexpr size_t kKeptJobs = 50;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::shared_ptr<DrainJob>> jobs_;
};

}  // namespace pgvalve::admin
