#include "admin/handlers/fleet_commands.h"

#include <string>
#include <vector>

#include "fleet/fleet.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/status_text.h"

namespace pgvalve::admin {

using protocol::ColumnType;

Awaitable<absl::StatusOr<CommandResult>> ShowFleet(CommandContext& context, ArgumentCursor& arguments) {
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  fleet::Fleet* member = context.services.fleet;
  if (member == nullptr) {
    co_return protocol::ErrorWithSqlState(protocol::sqlstate::kObjectNotInPrerequisiteState,
                                          "no fleet: [fleet] etcd_endpoints is not set");
  }
  absl::StatusOr<std::vector<fleet::InstanceRecord>> instances = co_await member->Instances();
  if (!instances.ok()) {
    co_return protocol::ErrorWithSqlState(protocol::sqlstate::kConnectionFailure,
                                          std::string("cannot list the fleet: ") +
                                              std::string(proxy::StatusText(instances.status())));
  }
  ResultSet rows({{"instance_id", ColumnType::kText},
                  {"address", ColumnType::kText},
                  {"version", ColumnType::kText},
                  {"sessions", ColumnType::kInt8},
                  {"applied_revision", ColumnType::kInt8},
                  {"slot", ColumnType::kInt4},
                  {"started", ColumnType::kText},
                  {"self", ColumnType::kBool}});
  for (const fleet::InstanceRecord& instance : *instances) {
    rows.AddRow()
        .Text(instance.id)
        .Text(instance.address)
        .Text(instance.version)
        .Int(static_cast<int64_t>(instance.sessions))
        .Int(instance.applied_revision)
        .Int(instance.slot)
        .Text(instance.started)
        .Bool(instance.id == member->id());
  }
  co_return CommandResult{std::move(rows), "SHOW"};
}

}  // namespace pgvalve::admin
