#include "admin/handlers/show_commands.h"

#include <algorithm>
#include <map>
#include <set>

#include "admin/commands/command_support.h"
#include "admin/commands/command_table.h"
#include "admin/commands/session_selection.h"
#include "config/limits.h"
#include "config/value_text.h"
#include "fmt/format.h"
#include "pgvalve_version.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/current_route.h"
#include "upstream/activity_queries.h"
#include "upstream/control_connections.h"

namespace pgvalve::admin {
namespace {

namespace sqlstate = protocol::sqlstate;
using protocol::ColumnType;
using proxy::SessionState;

std::string_view OriginText(proxy::StateOrigin origin) {
  switch (origin) {
    case proxy::StateOrigin::kDefault: return "";
    case proxy::StateOrigin::kAdminCommand: return "admin command";
    case proxy::StateOrigin::kStateFile: return "state file";
    case proxy::StateOrigin::kFleet: return "fleet";
  }
  return "";
}

std::string Join(const std::vector<std::string>& items) {
  std::string joined;
  for (const auto& item : items) joined += (joined.empty() ? "" : ", ") + item;
  return joined;
}

absl::Status NoArguments(ArgumentCursor& arguments) { return arguments.ExpectEnd(); }

struct StateCounts {
  int64_t total = 0, active = 0, idle = 0, in_transaction = 0, held = 0;
};

// Where each database's new sessions go now (a SWITCH, a CUTOVER, or the
// configured route).
std::map<std::string, std::string> CurrentRoutes(const AdminServices& services, const config::Config& config) {
  std::map<std::string, std::string> routes;
  for (const auto& gate : services.databases.All()) {
    absl::StatusOr<const config::UpstreamConfig*> route = proxy::CurrentRoute(config, *gate);
    if (route.ok() && *route != nullptr) routes.emplace(gate->name(), (*route)->name);
  }
  return routes;
}

// A session's upstream as SHOW CLIENTS and SHOW UPSTREAMS tell it: the one
// it is connected to, or, held before it connected anywhere, the one its
// database is routed to now, where it goes when released (a SWITCH during
// the hold changes it).
std::string ShownUpstream(const std::map<std::string, std::string>& routes, const std::string& database,
                          SessionState state, int32_t backend_pid, std::string upstream) {
  if (state == SessionState::kHeld && backend_pid == 0) {
    if (auto route = routes.find(database); route != routes.end()) return route->second;
  }
  return upstream;
}

}  // namespace

Awaitable<absl::StatusOr<CommandResult>> ShowClients(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<SessionSelection> selection = ParseSessionSelection(
      context.services.sessions, arguments, {.target_optional = true});
  if (!selection.ok()) co_return selection.status();
  ResultSet rows({{"id", ColumnType::kInt8},
                  {"database", ColumnType::kText},
                  {"user", ColumnType::kText},
                  {"application_name", ColumnType::kText},
                  {"client_addr", ColumnType::kText},
                  {"client_port", ColumnType::kInt4},
                  {"state", ColumnType::kText},
                  {"virtual_pid", ColumnType::kInt4},
                  {"backend_pid", ColumnType::kInt4},
                  {"upstream", ColumnType::kText},
                  {"connected_since", ColumnType::kText},
                  {"state_since", ColumnType::kText},
                  {"xact_start", ColumnType::kText},
                  {"query_start", ColumnType::kText},
                  {"state_seconds", ColumnType::kFloat8},
                  {"bytes_in", ColumnType::kInt8},
                  {"bytes_out", ColumnType::kInt8},
                  {"tls", ColumnType::kText}});
  const std::map<std::string, std::string> routes =
      CurrentRoutes(context.services, *context.services.config.Current());
  for (const SelectedSession& selected : selection->sessions) {
    const proxy::SessionSnapshot& session = selected.snapshot;
    auto& row = rows.AddRow();
    row.Int(static_cast<int64_t>(session.identity.id))
        .Text(session.identity.database)
        .Text(session.identity.user)
        .Text(session.application_name)
        .Text(session.identity.client_address);
    if (session.identity.client_port != 0) {
      row.Int(session.identity.client_port);
    } else {
      row.Null();
    }
    row.Text(proxy::SessionStateName(session.state));
    if (session.virtual_pid != 0) {
      row.Int(session.virtual_pid).Int(session.backend_pid);
    } else {
      row.Null().Null();
    }
    row.Text(ShownUpstream(routes, session.identity.database, session.state, session.backend_pid, session.upstream))
        .Time(session.identity.connected_at)
        .Time(session.state_since);
    // As pg_stat_activity: xact_start while in a transaction (or running a
    // statement), query_start while running one.
    const bool in_transaction = session.state == SessionState::kActive ||
                                session.state == SessionState::kIdleInTransaction ||
                                session.state == SessionState::kIdleInFailedTransaction;
    if (in_transaction) {
      row.Time(session.transaction_start);
    } else {
      row.Null();
    }
    if (session.state == SessionState::kActive) {
      row.Time(session.query_start);
    } else {
      row.Null();
    }
    row.Double(StateAge(session, selection->now).count())
        .Int(static_cast<int64_t>(session.counters.bytes_from_client))
        .Int(static_cast<int64_t>(session.counters.bytes_to_client));
    if (session.identity.tls.empty()) {
      row.Null();
    } else {
      row.Text(session.identity.tls);
    }
  }
  co_return CommandResult{std::move(rows), "SHOW"};
}

Awaitable<absl::StatusOr<CommandResult>> ShowDatabases(CommandContext& context, ArgumentCursor& arguments) {
  if (absl::Status end = NoArguments(arguments); !end.ok()) co_return end;
  auto config = context.services.config.Current();

  std::map<std::string, StateCounts> counts;
  for (const auto& record : context.services.sessions.All()) {
    StateCounts& count = counts[record->identity().database];
    ++count.total;
    switch (record->state()) {
      case SessionState::kActive: ++count.active; break;
      case SessionState::kIdle: ++count.idle; break;
      case SessionState::kIdleInTransaction:
      case SessionState::kIdleInFailedTransaction: ++count.in_transaction; break;
      case SessionState::kHeld: ++count.held; break;
      case SessionState::kStarting: break;
    }
  }
  std::set<std::string> names;
  for (const auto& [name, route] : config->databases) names.insert(name);
  for (const auto& [name, count] : counts) names.insert(name);
  std::map<std::string, proxy::DatabaseGateSnapshot> gates;
  const std::optional<proxy::DisableAllState> disable_all = context.services.databases.disable_all().state();
  for (const auto& gate : context.services.databases.All()) {
    proxy::DatabaseGateSnapshot snapshot = gate->Snapshot();
    if (snapshot.disabled || snapshot.paused || snapshot.route_switch) names.insert(snapshot.name);
    gates.emplace(snapshot.name, std::move(snapshot));
  }

  ResultSet rows({{"name", ColumnType::kText},
                  {"upstream", ColumnType::kText},
                  {"host", ColumnType::kText},
                  {"port", ColumnType::kInt4},
                  {"state", ColumnType::kText},
                  {"disable_reason", ColumnType::kText},
                  {"except_roles", ColumnType::kText},
                  {"state_origin", ColumnType::kText},
                  {"sessions", ColumnType::kInt8},
                  {"active", ColumnType::kInt8},
                  {"idle", ColumnType::kInt8},
                  {"idle_in_transaction", ColumnType::kInt8},
                  {"held", ColumnType::kInt8},
                  {"configured_upstream", ColumnType::kText},
                  {"switched_at", ColumnType::kText},
                  {"switched_by", ColumnType::kText}});
  for (const std::string& name : names) {
    const config::UpstreamConfig* configured = config->UpstreamFor(name);
    const StateCounts count = counts[name];
    auto gate = gates.find(name);
    // Where new sessions go now: a switch wins over the configured route.
    const std::optional<proxy::RouteSwitch> route_switch =
        gate != gates.end() ? gate->second.route_switch : std::nullopt;
    const config::UpstreamConfig* upstream = configured;
    if (route_switch) {
      auto switched = config->upstreams.find(route_switch->upstream);
      upstream = switched != config->upstreams.end() ? &switched->second : nullptr;
    }
    // What the admission check does: the database's own DISABLE first, then
    // DISABLE ALL (which also covers the "*" route: every database it routes).
    const proxy::DisableState* disabled =
        gate != gates.end() && gate->second.disabled ? &*gate->second.disabled : nullptr;
    std::optional<proxy::DisableState> by_all;
    if (disabled == nullptr && disable_all &&
        std::find(disable_all->except_databases.begin(), disable_all->except_databases.end(), name) ==
            disable_all->except_databases.end()) {
      by_all = proxy::DisableState{disable_all->reason, disable_all->except_roles, disable_all->origin};
      disabled = &*by_all;
    }
    const bool paused = gate != gates.end() && gate->second.paused;
    // Pausing until every session is idle or held.
    const bool settled = count.active == 0 && count.in_transaction == 0 &&
                         count.total == count.idle + count.held;
    std::string state = paused ? (settled ? "paused" : "pausing") : "enabled";
    if (disabled != nullptr) {
      const std::string disabled_text = by_all ? "disabled (all)" : "disabled";
      state = paused ? disabled_text + ", " + state : disabled_text;
    }

    auto& row = rows.AddRow();
    row.Text(name);
    if (upstream != nullptr) {
      row.Text(upstream->name).Text(upstream->host).Int(upstream->port);
    } else if (route_switch) {
      row.Text(route_switch->upstream + " (not in the configuration)").Null().Null();
    } else {
      row.Null().Null().Null();
    }
    row.Text(state);
    if (disabled != nullptr) {
      row.Text(disabled->reason).Text(Join(disabled->except_roles));
    } else {
      row.Null().Null();
    }
    std::string_view origin;
    if (disabled != nullptr) {
      origin = OriginText(disabled->origin);
    } else if (gate != gates.end()) {
      origin = OriginText(gate->second.pause_origin);
    }
    if (origin.empty()) {
      row.Null();
    } else {
      row.Text(origin);
    }
    row.Int(count.total).Int(count.active).Int(count.idle).Int(count.in_transaction).Int(count.held);
    if (configured != nullptr) {
      row.Text(configured->name);
    } else {
      row.Null();
    }
    if (route_switch) {
      row.Time(route_switch->at).Text(route_switch->by);
    } else {
      row.Null().Null();
    }
  }
  co_return CommandResult{std::move(rows), "SHOW"};
}

Awaitable<absl::StatusOr<CommandResult>> ShowUpstreams(CommandContext& context, ArgumentCursor& arguments) {
  if (absl::Status end = NoArguments(arguments); !end.ok()) co_return end;
  auto config = context.services.config.Current();
  const std::map<std::string, std::string> routes = CurrentRoutes(context.services, *config);
  std::map<std::string, int64_t> sessions;
  for (const auto& record : context.services.sessions.All()) {
    ++sessions[ShownUpstream(routes, record->identity().database, record->state(), record->backend_pid(),
                             record->upstream())];
  }
  ResultSet rows({{"name", ColumnType::kText},
                  {"host", ColumnType::kText},
                  {"port", ColumnType::kInt4},
                  {"sessions", ColumnType::kInt8},
                  {"control_user", ColumnType::kText},
                  {"control_pid", ColumnType::kInt4},
                  {"server_version", ColumnType::kInt4}});
  for (const auto& [name, upstream] : config->upstreams) {
    auto& row = rows.AddRow();
    row.Text(name).Text(upstream.host).Int(upstream.port).Int(sessions[name]);
    row.OptionalText(upstream.control_user);
    const upstream::ControlConnection* control = context.services.control.Existing(name);
    if (control != nullptr && control->backend_pid() != 0) {
      row.Int(control->backend_pid()).Int(control->server_version());
    } else {
      row.Null().Null();
    }
  }
  co_return CommandResult{std::move(rows), "SHOW"};
}

Awaitable<absl::StatusOr<CommandResult>> ShowStats(CommandContext& context, ArgumentCursor& arguments) {
  if (absl::Status end = NoArguments(arguments); !end.ok()) co_return end;
  ResultSet rows({{"database", ColumnType::kText},
                  {"transactions", ColumnType::kInt8},
                  {"queries", ColumnType::kInt8},
                  {"bytes_in", ColumnType::kInt8},
                  {"bytes_out", ColumnType::kInt8},
                  {"avg_transaction_ms", ColumnType::kFloat8}});
  auto add = [&rows](std::string_view database, const proxy::CounterValues& totals) {
    const double average_ms =
        totals.transactions == 0
            ? 0.0
            : static_cast<double>(totals.transaction_time_us) / 1000.0 / totals.transactions;
    rows.AddRow()
        .Text(database)
        .Int(static_cast<int64_t>(totals.transactions))
        .Int(static_cast<int64_t>(totals.queries))
        .Int(static_cast<int64_t>(totals.bytes_from_client))
        .Int(static_cast<int64_t>(totals.bytes_to_client))
        .Double(average_ms);
  };
  const auto counters = context.services.sessions.CountersByDatabase();
  for (const auto& [database, totals] : counters.by_name) add(database, totals);
  if (counters.has_others) add(proxy::kOtherDatabases, counters.others);
  co_return CommandResult{std::move(rows), "SHOW"};
}

namespace {
// The key file's path is shown; like a password, only its contents are secret.
template <typename Add>
void AddClientTls(Add& add, const std::string& prefix, const config::ClientTlsSettings& tls) {
  add(prefix + "client_tls_sslmode", std::string(config::Name(tls.mode)));
  add(prefix + "client_tls_cert_file", tls.cert_file.value_or(""));
  add(prefix + "client_tls_key_file", tls.key_file.value_or(""));
  add(prefix + "client_tls_ca_file", tls.ca_file.value_or(""));
  add(prefix + "client_tls_protocols",
      tls.min_version == tls.max_version
          ? std::string(config::Name(tls.min_version))
          : fmt::format("{},{}", config::Name(tls.min_version), config::Name(tls.max_version)));
  add(prefix + "client_tls_ciphers", tls.ciphers);
  add(prefix + "client_tls13_ciphers", tls.tls13_ciphers);
}
}  // namespace

Awaitable<absl::StatusOr<CommandResult>> ShowConfig(CommandContext& context, ArgumentCursor& arguments) {
  if (absl::Status end = NoArguments(arguments); !end.ok()) co_return end;
  auto config = context.services.config.Current();
  ResultSet rows({{"key", ColumnType::kText}, {"value", ColumnType::kText}});
  auto add = [&rows](std::string key, std::string value) { rows.AddRow().Text(key).Text(value); };
  auto addresses = [](const std::vector<config::ListenAddress>& list) {
    std::vector<std::string> texts;
    for (const auto& address : list) texts.push_back(address.ToString());
    return Join(texts);
  };
  add("source", config->source);
  add("log_level", config->log_level);
  add("log_format", config->log_format);
  add("proxy.listen", addresses(config->proxy.listen));
  add("proxy.unix_socket_dir", config->proxy.unix_socket_dir.value_or(""));
  add("proxy.max_client_connections", std::to_string(config->proxy.max_client_connections));
  add("proxy.workers", std::to_string(config->proxy.workers));
  add("proxy.startup_timeout", config::FormatDuration(config->proxy.startup_timeout));
  add("proxy.max_message_size", std::to_string(config->proxy.max_message_size));
  add("proxy.hold_timeout", config::FormatDuration(config->proxy.hold_timeout));
  add("proxy.terminate_wait", config::FormatDuration(config->proxy.terminate_wait));
  add("proxy.max_startup_connections", std::to_string(config->proxy.max_startup_connections));
  add("proxy.max_startup_connections_per_address",
      std::to_string(config->proxy.max_startup_connections_per_address));
  add("proxy.shutdown_timeout", config::FormatDuration(config->proxy.shutdown_timeout));
  AddClientTls(add, "proxy.", config->proxy.tls);
  add("admin.listen", addresses(config->admin.listen));
  add("admin.unix_socket_dir", config->admin.unix_socket_dir.value_or(""));
  add("admin.state_file", config->admin.state_file.value_or(""));
  add("admin.query_text_length", std::to_string(config->admin.query_text_length));
  AddClientTls(add, "admin.", config->admin.tls);
  for (const auto& user : config->admin.users) {
    add(fmt::format("admin.users.{}", user.name), std::string(config::AdminRoleName(user.role)));
  }
  add("http.listen", addresses(config->http.listen));
  add("http.metrics_auth", config->http.metrics_auth ? "true" : "false");
  add("http.tls", config->http.tls ? "true" : "false");
  std::string endpoints;
  for (const std::string& endpoint : config->fleet.etcd_endpoints) {
    endpoints += (endpoints.empty() ? "" : ",") + endpoint;
  }
  add("fleet.etcd_endpoints", endpoints);
  add("fleet.etcd_user", config->fleet.etcd_user.value_or(""));
  add("fleet.etcd_password", config->fleet.etcd_password ? "(set)" : "");
  add("fleet.key_prefix", config->fleet.key_prefix);
  add("fleet.instance_id", config->fleet.instance_id.value_or(""));
  add("fleet.lease_ttl", config::FormatDuration(config->fleet.lease_ttl));
  add("fleet.ack_timeout", config::FormatDuration(config->fleet.ack_timeout));
  add("fleet.advertise_address", config->fleet.advertise_address.value_or(""));
  for (const auto& [name, upstream] : config->upstreams) {
    const std::string prefix = fmt::format("upstreams.{}.", name);
    add(prefix + "host", upstream.host);
    add(prefix + "port", std::to_string(upstream.port));
    add(prefix + "connect_timeout", config::FormatDuration(upstream.connect_timeout));
    add(prefix + "control_user", upstream.control_user.value_or(""));
    // Secrets are never shown, only whether one is set.
    add(prefix + "control_password", upstream.control_password ? "(set)" : "");
    add(prefix + "control_passfile", upstream.control_passfile.value_or(""));
    add(prefix + "control_dbname", upstream.control_dbname);
    add(prefix + "server_tls_sslmode", std::string(config::Name(upstream.tls.mode)));
    add(prefix + "server_tls_ca_file", upstream.tls.ca_file.value_or(""));
    add(prefix + "server_tls_cert_file", upstream.tls.cert_file.value_or(""));
    add(prefix + "server_tls_key_file", upstream.tls.key_file.value_or(""));
  }
  for (const auto& [name, route] : config->databases) {
    const std::string prefix = fmt::format("databases.\"{}\".", name);
    add(prefix + "upstream", route.upstream);
    // The config file's limits only; SHOW LIMITS also shows runtime values.
    for (config::Limit limit : config::kAllLimits) {
      const std::optional<config::LimitSetting>& setting = route.limits.Get(limit);
      if (!setting) continue;
      add(prefix + std::string(config::LimitName(limit)), config::FormatDuration(setting->value));
      if (!setting->except_users.empty()) {
        std::string users;
        for (const std::string& user : setting->except_users) users += (users.empty() ? "" : ", ") + user;
        add(fmt::format("{}{}_except_users", prefix, config::LimitName(limit)), users);
      }
    }
  }
  co_return CommandResult{std::move(rows), "SHOW"};
}

Awaitable<absl::StatusOr<CommandResult>> ShowVersion(CommandContext& context, ArgumentCursor& arguments) {
  if (absl::Status end = NoArguments(arguments); !end.ok()) co_return end;
  ResultSet rows({{"version", ColumnType::kText}});
  rows.AddRow().Text(fmt::format("pgvalve {}", kVersion));
  co_return CommandResult{std::move(rows), "SHOW"};
}

Awaitable<absl::StatusOr<CommandResult>> ShowHelp(CommandContext& context, ArgumentCursor& arguments) {
  if (absl::Status end = NoArguments(arguments); !end.ok()) co_return end;
  ResultSet rows({{"command", ColumnType::kText},
                  {"arguments", ColumnType::kText},
                  {"role", ColumnType::kText},
                  {"description", ColumnType::kText}});
  for (const CommandSpec& spec : CommandTable()) {
    rows.AddRow()
        .Text(spec.verb)
        .Text(spec.synopsis)
        .Text(config::AdminRoleName(spec.required_role))
        .Text(spec.description);
  }
  co_return CommandResult{std::move(rows), "SHOW"};
}

Awaitable<absl::StatusOr<CommandResult>> ShowBackends(CommandContext& context, ArgumentCursor& arguments) {
  absl::StatusOr<std::string> database = arguments.ExpectName("a database name");
  if (!database.ok()) co_return database.status();
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;

  auto config = context.services.config.Current();
  const config::UpstreamConfig* upstream = config->UpstreamFor(*database);
  if (upstream == nullptr) {
    co_return protocol::ErrorWithSqlState(
        sqlstate::kInvalidCatalogName, fmt::format("pgvalve has no route for database \"{}\"", *database));
  }
  if (!upstream->control_user) {
    co_return protocol::ErrorWithSqlState(
        sqlstate::kObjectNotInPrerequisiteState,
        fmt::format("upstream \"{}\" has no control_user; SHOW BACKENDS needs one", upstream->name));
  }
  std::shared_ptr<upstream::ControlConnection> control = context.services.control.For(*upstream);
  absl::StatusOr<upstream::QueryResult> backends = co_await upstream::ActivityOfDatabase(*control, *database);
  if (!backends.ok()) co_return backends.status();

  std::vector<Column> columns = {{"pgvalve_client", ColumnType::kText}};
  for (const auto& name : backends->columns) columns.push_back({name, ColumnType::kText});
  columns[1].type = ColumnType::kInt4;  // pid
  ResultSet rows(std::move(columns));
  for (const auto& backend : backends->rows) {
    const int32_t pid = backend[0] ? std::stoi(*backend[0]) : 0;
    auto& row = rows.AddRow();
    // Which pgvalve client sits on this backend, if any; the control
    // connection names itself so nobody mistakes it for an application.
    auto record = context.services.sessions.FindByBackendPid(pid);
    if (record && record->upstream() == upstream->name) {
      row.Text(std::to_string(record->id()));
    } else if (pid == control->backend_pid()) {
      row.Text("pgvalve control");
    } else {
      row.Null();
    }
    for (const auto& value : backend) row.OptionalText(value);
  }
  co_return CommandResult{std::move(rows), "SHOW"};
}

}  // namespace pgvalve::admin
