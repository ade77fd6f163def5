#pragma once
// DRAIN across a fleet. The instance an operator runs DRAIN on takes the
// fleet-wide job lock of the database (LockFleetJob), announces the drain,
// drains its own sessions and then gathers every other live instance's
// report (RunFleetDrain); each of those runs the same drain on its own
// sessions and reports (FollowFleetDrain). The operator sees one NOTICE per
// instance, and the DRAIN fails if any instance left a session or did not
// report. Control thread only.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "admin/commands/command_context.h"
#include "admin/jobs/drain_job.h"
#include "fleet/fleet_jobs.h"

namespace pgvalve::admin {

// Takes the fleet-wide lock of jobs on `database` for `job` (a text such as
// "DRAIN 3 by admin (127.0.0.1)"); 55006 naming the holder when another
// instance runs one. OK at once without a fleet.
Awaitable<absl::Status> LockFleetJob(AdminServices& services, const std::string& database, const std::string& job);
// Gives it back; nothing without a fleet.
Awaitable<void> UnlockFleetJob(AdminServices& services, const std::string& database);

// Runs `job` here and on every other live instance (the lock taken), then
// releases the lock. What `job->Run` returns, unless another instance
// failed its part: then 55006 naming each.
Awaitable<absl::Status> RunFleetDrain(AdminServices& services, NoticeChannel& notices,
                                      std::shared_ptr<DrainJob> job);

// This instance's part of `drain`, announced by another instance.
Awaitable<void> FollowFleetDrain(AdminServices& services, fleet::FleetDrain drain);

}  // namespace pgvalve::admin
