#pragma once
// DRAIN ... DRY RUN: what a drain would do now, and which sessions hold
// something a drain breaks: open transactions, temporary tables, advisory
// locks, LISTEN channels, and the database's prepared transactions.

#include "absl/status/statusor.h"
#include "admin/commands/command_context.h"
#include "admin/jobs/drain_job.h"

namespace pgvalve::admin {

Awaitable<absl::StatusOr<ResultSet>> DrainDryRun(CommandContext& context, const DrainOptions& options);

}  // namespace pgvalve::admin
