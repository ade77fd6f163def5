#pragma once
// INCLUDING DIRECT across a fleet. The instance running a DRAIN or CUTOVER
// knows the backends of its own sessions; those of the other instances'
// sessions look direct in pg_stat_activity, and terminating them would
// bypass the GRACE their own instance gives them. So each instance lists
// its backends of the database when a job is announced (ListFleetBackends)
// and the runner leaves what the others listed alone (GatherFleetBackends).
// Only the runner terminates direct backends; each instance verifies its
// own sessions gone. Control thread only.

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "admin/commands/command_context.h"

namespace pgvalve::admin {

// Writes the backend pids of this instance's sessions of `database` under
// the job of kind `kind` ("drain", "cutover") another instance announced.
// Failures are logged: the runner then knows this instance did not list.
Awaitable<void> ListFleetBackends(AdminServices& services, std::string_view kind, const std::string& database);

struct FleetBackendLists {
  std::set<int32_t> pids;            // every backend the others listed
  std::vector<std::string> missing;  // instances that did not list in time
};
// The lists of `others`, once each has written its own or after twice
// [fleet] ack_timeout; nothing without a fleet.
Awaitable<FleetBackendLists> GatherFleetBackends(AdminServices& services, std::string_view kind,
                                                 const std::string& database,
                                                 const std::vector<std::string>& others);

}  // namespace pgvalve::admin
