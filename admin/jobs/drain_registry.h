#pragma once
// The drains started since pgvalve began, for SHOW DRAINS, SHOW DRAIN id
// and CANCEL DRAIN id.

#include "admin/jobs/drain_job.h"
#include "admin/jobs/job_registry.h"

namespace pgvalve::admin {

using DrainRegistry = JobRegistry<DrainJob>;

}  // namespace pgvalve::admin
