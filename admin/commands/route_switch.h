#pragma once
// Switching where a database's new sessions go (SWITCH, and CUTOVER's last
// step): checks that the target can take writes, the switch itself, and
// what it is kept as.

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "admin/commands/command_context.h"
#include "config/config.h"

namespace pgvalve::admin {

// The configured upstream `name`, or 42704 naming the ones there are.
absl::StatusOr<const config::UpstreamConfig*> FindUpstream(const config::Config& config,
                                                           const std::string& name);

// OK when `upstream` answers through its control connection and is not in
// recovery: a standby would refuse every write (25006). Otherwise why not,
// with `override_hint` as the hint.
Awaitable<absl::Status> CheckWritable(CommandContext& context, const config::UpstreamConfig& upstream,
                                      std::string_view override_hint);

// New sessions for `database` go to `upstream` from now on (nullopt: the
// configured route again); `by` is recorded for SHOW DATABASES. Kept in the
// state file and, with a fleet, published (an error: it was taken back);
// logged.
Awaitable<absl::Status> SwitchRoute(CommandContext& context, const std::string& database,
                            std::optional<std::string> upstream, std::string by);

// "admin (127.0.0.1)": who did it, for SHOW DATABASES.
std::string CallerName(const AdminCaller& caller);

}  // namespace pgvalve::admin
