#include "fleet/fleet_jobs.h"

#include <boost/json.hpp>

#include "fleet/json_fields.h"
#include "fmt/format.h"

namespace pgvalve::fleet {
namespace {

namespace json = boost::json;

// Letters, digits, '_', '-' and '.' as they are; any other byte as %XX.
std::string KeyComponent(std::string_view name) {
  std::string component;
  for (char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '_' || c == '-' || c == '.') {
      component.push_back(c);
    } else {
      component += fmt::format("%{:02X}", byte);
    }
  }
  return component;
}

}  // namespace

std::string EncodeJobLock(const JobLock& lock) {
  return json::serialize(json::object{{"instance", lock.instance}, {"job", lock.job}});
}

absl::StatusOr<JobLock> DecodeJobLock(std::string_view text) {
  absl::StatusOr<json::object> object = ParseJsonObject(text, "a job lock");
  if (!object.ok()) return object.status();
  return JobLock{StringField(*object, "instance"), StringField(*object, "job")};
}

absl::StatusOr<JobOrigin> DecodeJobOrigin(std::string_view text) {
  absl::StatusOr<json::object> object = ParseJsonObject(text, "a job announcement");
  if (!object.ok()) return object.status();
  JobOrigin origin{StringField(*object, "database"), StringField(*object, "instance"),
                   static_cast<uint64_t>(IntField(*object, "job"))};
  if (origin.database.empty() || origin.instance.empty()) {
    return absl::DataLossError("a job announcement without database or instance");
  }
  return origin;
}

std::string EncodeDrain(const FleetDrain& drain) {
  json::array roles;
  for (const std::string& role : drain.except_roles) roles.emplace_back(role);
  return json::serialize(json::object{{"database", drain.database},
                                      {"instance", drain.instance},
                                      {"job", drain.job},
                                      {"grace_ms", drain.grace_ms},
                                      {"timeout_ms", drain.timeout_ms},
                                      {"escalation", drain.escalation},
                                      {"except_roles", std::move(roles)}});
}

absl::StatusOr<FleetDrain> DecodeDrain(std::string_view text) {
  absl::StatusOr<json::object> object = ParseJsonObject(text, "a drain announcement");
  if (!object.ok()) return object.status();
  FleetDrain drain{.database = StringField(*object, "database"),
                   .instance = StringField(*object, "instance"),
                   .job = static_cast<uint64_t>(IntField(*object, "job")),
                   .grace_ms = IntField(*object, "grace_ms"),
                   .timeout_ms = IntField(*object, "timeout_ms"),
                   .escalation = StringField(*object, "escalation")};
  if (drain.database.empty() || drain.instance.empty() || drain.timeout_ms <= 0) {
    return absl::DataLossError("a drain announcement without database, instance or timeout");
  }
  if (const json::value* roles = object->if_contains("except_roles"); roles != nullptr && roles->is_array()) {
    for (const json::value& role : roles->as_array()) {
      if (role.is_string()) drain.except_roles.emplace_back(std::string_view(role.as_string()));
    }
  }
  return drain;
}

std::string EncodeDrainReport(const FleetDrainReport& report) {
  json::object outcomes;
  for (const auto& [outcome, count] : report.outcomes) outcomes[outcome] = count;
  return json::serialize(json::object{{"instance", report.instance},
                                      {"phase", report.phase},
                                      {"sessions", report.sessions},
                                      {"left", report.left},
                                      {"outcomes", std::move(outcomes)},
                                      {"error", report.error}});
}

absl::StatusOr<FleetDrainReport> DecodeDrainReport(std::string_view text) {
  absl::StatusOr<json::object> object = ParseJsonObject(text, "a drain report");
  if (!object.ok()) return object.status();
  FleetDrainReport report{.instance = StringField(*object, "instance"),
                          .phase = StringField(*object, "phase"),
                          .sessions = static_cast<uint64_t>(IntField(*object, "sessions")),
                          .left = static_cast<uint64_t>(IntField(*object, "left")),
                          .error = StringField(*object, "error")};
  if (const json::value* outcomes = object->if_contains("outcomes"); outcomes != nullptr && outcomes->is_object()) {
    for (const auto& [outcome, count] : outcomes->as_object()) {
      if (count.is_int64() || count.is_uint64()) {
        report.outcomes[std::string(outcome)] = count.is_int64() ? static_cast<uint64_t>(count.as_int64())
                                                                 : count.as_uint64();
      }
    }
  }
  return report;
}

std::string EncodeCutover(const FleetCutover& cutover) {
  return json::serialize(json::object{{"database", cutover.database},
                                      {"instance", cutover.instance},
                                      {"job", cutover.job},
                                      {"grace_ms", cutover.grace_ms},
                                      {"timeout_ms", cutover.timeout_ms},
                                      {"target", cutover.target},
                                      {"escalation", cutover.escalation}});
}

absl::StatusOr<FleetCutover> DecodeCutover(std::string_view text) {
  absl::StatusOr<json::object> object = ParseJsonObject(text, "a cutover announcement");
  if (!object.ok()) return object.status();
  FleetCutover cutover{.database = StringField(*object, "database"),
                       .instance = StringField(*object, "instance"),
                       .job = static_cast<uint64_t>(IntField(*object, "job")),
                       .grace_ms = IntField(*object, "grace_ms"),
                       .timeout_ms = IntField(*object, "timeout_ms"),
                       .target = StringField(*object, "target"),
                       .escalation = StringField(*object, "escalation")};
  if (cutover.database.empty() || cutover.instance.empty() || cutover.target.empty() || cutover.timeout_ms <= 0) {
    return absl::DataLossError("a cutover announcement without database, instance, target or timeout");
  }
  return cutover;
}

std::string EncodeCutoverReport(const FleetCutoverReport& report) {
  return json::serialize(json::object{
      {"instance", report.instance}, {"held", report.held}, {"closed", report.closed}, {"error", report.error}});
}

absl::StatusOr<FleetCutoverReport> DecodeCutoverReport(std::string_view text) {
  absl::StatusOr<json::object> object = ParseJsonObject(text, "a cutover report");
  if (!object.ok()) return object.status();
  const json::value* held = object->if_contains("held");
  return FleetCutoverReport{.instance = StringField(*object, "instance"),
                            .held = held != nullptr && held->is_bool() && held->as_bool(),
                            .closed = static_cast<uint64_t>(IntField(*object, "closed")),
                            .error = StringField(*object, "error")};
}

std::string EncodeBackends(const FleetBackends& backends) {
  json::array pids;
  for (int32_t pid : backends.pids) pids.emplace_back(pid);
  return json::serialize(json::object{{"instance", backends.instance}, {"pids", std::move(pids)}});
}

absl::StatusOr<FleetBackends> DecodeBackends(std::string_view text) {
  absl::StatusOr<json::object> object = ParseJsonObject(text, "a list of backends");
  if (!object.ok()) return object.status();
  FleetBackends backends{.instance = StringField(*object, "instance")};
  const json::value* pids = object->if_contains("pids");
  if (backends.instance.empty() || pids == nullptr || !pids->is_array()) {
    return absl::DataLossError("a list of backends without instance or pids");
  }
  for (const json::value& pid : pids->as_array()) {
    if (pid.is_int64()) backends.pids.push_back(static_cast<int32_t>(pid.as_int64()));
  }
  return backends;
}

std::string JobsPrefix(std::string_view key_prefix) { return std::string(key_prefix) + "/jobs/"; }

std::string JobLockKey(std::string_view key_prefix, std::string_view database) {
  return std::string(key_prefix) + "/locks/" + KeyComponent(database);
}

std::string JobKeysPrefix(std::string_view key_prefix, std::string_view database, std::string_view kind) {
  return JobsPrefix(key_prefix) + KeyComponent(database) + "/" + std::string(kind);
}

std::string JobKey(std::string_view key_prefix, std::string_view database, std::string_view kind) {
  return JobKeysPrefix(key_prefix, database, kind);
}

std::string JobReportKey(std::string_view key_prefix, std::string_view database, std::string_view kind,
                         std::string_view instance, JobPart part) {
  const std::string_view folder = part == JobPart::kBackends ? "/backends/" : "/reports/";
  return JobKeysPrefix(key_prefix, database, kind) + std::string(folder) + std::string(instance);
}

}  // namespace pgvalve::fleet
