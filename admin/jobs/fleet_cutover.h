#pragma once
// CUTOVER across a fleet. The instance an operator runs CUTOVER on holds the
// job lock and publishes the PAUSE (every instance then holds new sessions
// and requests); it announces the hold (AnnounceFleetHold) and, once its
// own sessions are at a boundary, waits until every other live instance
// says its own are too (WaitForFleetHold) before the catch-up and the
// switch. Each of those brings its sessions to a boundary as the runner
// does (after GRACE, what is still in a transaction is ended as THEN says:
// its backend terminated, or its statement cancelled and the session
// closed) and reports (FollowFleetCutover). The switch and
// RESUME then reach every instance together, which closes its sessions
// left on the old server before releasing the held requests (see
// SharedState's on_cutover_switch). Control thread only.

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "admin/commands/command_context.h"
#include "fleet/fleet_jobs.h"

namespace pgvalve::admin {

// Announces the hold of `cutover`; `others` gets the live instances it
// waits for. OK at once, with none, without a fleet.
Awaitable<absl::Status> AnnounceFleetHold(AdminServices& services, const fleet::FleetCutover& cutover,
                                         std::vector<std::string>& others);
// Every instance of `others` has its sessions of the database at a
// boundary; otherwise 55006 naming those that did not say so by `deadline`.
Awaitable<absl::Status> WaitForFleetHold(AdminServices& services, NoticeChannel& notices,
                                        const std::string& database, const std::vector<std::string>& others,
                                        std::chrono::steady_clock::time_point deadline);
// The cutover ended (switched or rolled back): its keys go.
Awaitable<void> EndFleetCutover(AdminServices& services, const std::string& database);

// This instance's part of another's cutover: its sessions to a boundary,
// then the report.
Awaitable<void> FollowFleetCutover(AdminServices& services, fleet::FleetCutover cutover);

}  // namespace pgvalve::admin
