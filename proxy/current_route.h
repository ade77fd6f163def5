#pragma once
// Where a new session for a database goes now: the upstream an operator
// switched the database to (SWITCH, CUTOVER), else its configured route.

#include "absl/status/statusor.h"
#include "config/config.h"
#include "proxy/database_gate.h"

namespace pgvalve::proxy {

// nullptr when the database has neither a switch nor a route. An error
// (08006) when it was switched to an upstream the configuration no longer
// has: the operator's decision is not silently undone by a RELOAD.
absl::StatusOr<const config::UpstreamConfig*> CurrentRoute(const config::Config& config,
                                                            const DatabaseGate& gate);

}  // namespace pgvalve::proxy
