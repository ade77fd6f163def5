#pragma once
// The cutovers started since pgvalve began, for SHOW CUTOVERS, SHOW
// CUTOVER id and CANCEL CUTOVER id.

#include "admin/jobs/cutover_job.h"
#include "admin/jobs/job_registry.h"

namespace pgvalve::admin {

using CutoverRegistry = JobRegistry<CutoverJob>;

}  // namespace pgvalve::admin
