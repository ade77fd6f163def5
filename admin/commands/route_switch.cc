#include "admin/commands/route_switch.h"

#include <spdlog/spdlog.h>

#include "admin/commands/command_support.h"
#include "admin/commands/state_commit.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/log_text.h"
#include "proxy/status_text.h"
#include "upstream/control_connections.h"
#include "upstream/replication_queries.h"

namespace pgvalve::admin {

namespace sqlstate = protocol::sqlstate;

absl::StatusOr<const config::UpstreamConfig*> FindUpstream(const config::Config& config,
                                                           const std::string& name) {
  auto found = config.upstreams.find(name);
  if (found != config.upstreams.end()) return &found->second;
  std::string names;
  for (const auto& [known, upstream] : config.upstreams) names += (names.empty() ? "" : ", ") + known;
  return protocol::WithDetail(
      protocol::ErrorWithSqlState(sqlstate::kUndefinedObject,
                                  fmt::format("upstream \"{}\" is not in the configuration", name)),
      fmt::format("Configured upstreams: {}.", names));
}

Awaitable<absl::Status> CheckWritable(CommandContext& context, const config::UpstreamConfig& upstream,
                                      std::string_view override_hint) {
  if (!upstream.control_user) {
    co_return protocol::WithDetail(
        protocol::ErrorWithSqlState(
            sqlstate::kObjectNotInPrerequisiteState,
            fmt::format("upstream \"{}\" has no control_user: pgvalve cannot check that it takes writes",
                        upstream.name)),
        override_hint);
  }
  std::shared_ptr<upstream::ControlConnection> control = context.services.control.For(upstream);
  absl::StatusOr<bool> in_recovery = co_await upstream::IsInRecovery(*control);
  if (!in_recovery.ok()) {
    co_return protocol::WithDetail(
        protocol::ErrorWithSqlState(protocol::SqlStateOf(in_recovery.status()),
                                    fmt::format("upstream \"{}\" cannot be reached: {}", upstream.name,
                                                proxy::StatusText(in_recovery.status()))),
        override_hint);
  }
  if (*in_recovery) {
    co_return protocol::WithDetail(
        protocol::ErrorWithSqlState(
            sqlstate::kObjectNotInPrerequisiteState,
            fmt::format("upstream \"{}\" is in recovery (a standby): every write would fail with 25006",
                        upstream.name)),
        fmt::format("Promote it first, or use CUTOVER ... PROMOTE. {}", override_hint));
  }
  co_return absl::OkStatus();
}

Awaitable<absl::Status> SwitchRoute(CommandContext& context, const std::string& database,
                            std::optional<std::string> upstream, std::string by) {
  auto gate = context.services.databases.Gate(database);
  if (upstream) {
    spdlog::info("database {}: new sessions go to upstream {} (switched by {})", proxy::QuoteForLog(database),
                 proxy::QuoteForLog(*upstream), proxy::QuoteForLog(by));
    gate->SwitchRoute(proxy::RouteSwitch{.upstream = *upstream,
                                         .at = std::chrono::system_clock::now(),
                                         .by = std::move(by),
                                         .origin = proxy::StateOrigin::kAdminCommand});
  } else {
    spdlog::info("database {}: new sessions follow the configured route again (by {})",
                 proxy::QuoteForLog(database), proxy::QuoteForLog(by));
    gate->SwitchRoute(std::nullopt);
  }
  context.services.databases.Release(gate);
  co_return co_await PersistState(context);
}

std::string CallerName(const AdminCaller& caller) {
  return caller.address.empty() ? caller.user : fmt::format("{} ({})", caller.user, caller.address);
}

}  // namespace pgvalve::admin
