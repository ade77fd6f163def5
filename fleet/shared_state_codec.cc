#include "fleet/shared_state_codec.h"

#include <boost/json.hpp>
#include <chrono>

namespace pgvalve::fleet {
namespace {

namespace json = boost::json;

json::array ArrayOf(const std::vector<std::string>& items) {
  json::array array;
  for (const std::string& item : items) array.emplace_back(item);
  return array;
}

// Decoding is strict about types: a document pgvalve did not write is
// refused as a whole rather than half applied.
absl::Status Malformed(std::string_view what) {
  return absl::DataLossError(std::string("malformed shared state: ") + std::string(what));
}

absl::StatusOr<std::string> StringField(const json::object& object, std::string_view name) {
  const json::value* found = object.if_contains(name);
  if (found == nullptr) return std::string();
  if (!found->is_string()) return Malformed(std::string(name) + " is not a string");
  return std::string(std::string_view(found->as_string()));
}

absl::StatusOr<std::vector<std::string>> StringsField(const json::object& object, std::string_view name) {
  std::vector<std::string> items;
  const json::value* found = object.if_contains(name);
  if (found == nullptr) return items;
  if (!found->is_array()) return Malformed(std::string(name) + " is not an array");
  for (const json::value& item : found->as_array()) {
    if (!item.is_string()) return Malformed(std::string(name) + " holds something other than strings");
    items.emplace_back(std::string_view(item.as_string()));
  }
  return items;
}

absl::StatusOr<json::object> ParseObject(std::string_view text) {
  boost::system::error_code error;
  json::value value = json::parse(json::string_view(text.data(), text.size()), error);
  if (error || !value.is_object()) return Malformed("not a JSON object");
  return std::move(value.as_object());
}

const json::object* ObjectField(const json::object& object, std::string_view name) {
  const json::value* found = object.if_contains(name);
  return found != nullptr && found->is_object() ? &found->as_object() : nullptr;
}

}  // namespace

SharedDatabaseState SharedStateOf(const proxy::DatabaseGateSnapshot& snapshot) {
  SharedDatabaseState state;
  if (snapshot.disabled) {
    state.disabled = SharedDisable{snapshot.disabled->reason, snapshot.disabled->except_roles};
  }
  state.paused = snapshot.paused;
  if (snapshot.route_switch) {
    const auto at = std::chrono::duration_cast<std::chrono::milliseconds>(
        snapshot.route_switch->at.time_since_epoch());
    state.route_switch = SharedSwitch{snapshot.route_switch->upstream, at.count(), snapshot.route_switch->by};
  }
  return state;
}

SharedDisableAll SharedStateOf(const proxy::DisableAllState& state) {
  return {state.reason, state.except_databases, state.except_roles};
}

std::string EncodeDatabaseState(const SharedDatabaseState& state) {
  json::object object;
  if (state.disabled) {
    object["disabled"] = json::object{{"reason", state.disabled->reason},
                                      {"except_roles", ArrayOf(state.disabled->except_roles)}};
  }
  if (state.paused) object["paused"] = true;
  if (state.route_switch) {
    object["switch"] = json::object{{"upstream", state.route_switch->upstream},
                                    {"at_ms", state.route_switch->at_ms},
                                    {"by", state.route_switch->by}};
  }
  return json::serialize(object);
}

absl::StatusOr<SharedDatabaseState> DecodeDatabaseState(std::string_view text) {
  absl::StatusOr<json::object> object = ParseObject(text);
  if (!object.ok()) return object.status();
  SharedDatabaseState state;
  if (object->contains("disabled")) {
    const json::object* disabled = ObjectField(*object, "disabled");
    if (disabled == nullptr) return Malformed("disabled is not an object");
    absl::StatusOr<std::string> reason = StringField(*disabled, "reason");
    if (!reason.ok()) return reason.status();
    absl::StatusOr<std::vector<std::string>> roles = StringsField(*disabled, "except_roles");
    if (!roles.ok()) return roles.status();
    state.disabled = SharedDisable{*std::move(reason), *std::move(roles)};
  }
  if (const json::value* paused = object->if_contains("paused")) {
    if (!paused->is_bool()) return Malformed("paused is not a boolean");
    state.paused = paused->as_bool();
  }
  if (object->contains("switch")) {
    const json::object* route_switch = ObjectField(*object, "switch");
    if (route_switch == nullptr) return Malformed("switch is not an object");
    absl::StatusOr<std::string> upstream = StringField(*route_switch, "upstream");
    if (!upstream.ok()) return upstream.status();
    if (upstream->empty()) return Malformed("switch names no upstream");
    absl::StatusOr<std::string> by = StringField(*route_switch, "by");
    if (!by.ok()) return by.status();
    const json::value* at = route_switch->if_contains("at_ms");
    if (at != nullptr && !at->is_int64()) return Malformed("switch.at_ms is not an integer");
    state.route_switch = SharedSwitch{*std::move(upstream), at != nullptr ? at->as_int64() : 0, *std::move(by)};
  }
  return state;
}

std::string EncodeDisableAll(const SharedDisableAll& state) {
  return json::serialize(json::object{{"reason", state.reason},
                                      {"except_databases", ArrayOf(state.except_databases)},
                                      {"except_roles", ArrayOf(state.except_roles)}});
}

absl::StatusOr<SharedDisableAll> DecodeDisableAll(std::string_view text) {
  absl::StatusOr<json::object> object = ParseObject(text);
  if (!object.ok()) return object.status();
  absl::StatusOr<std::string> reason = StringField(*object, "reason");
  if (!reason.ok()) return reason.status();
  absl::StatusOr<std::vector<std::string>> databases = StringsField(*object, "except_databases");
  if (!databases.ok()) return databases.status();
  absl::StatusOr<std::vector<std::string>> roles = StringsField(*object, "except_roles");
  if (!roles.ok()) return roles.status();
  return SharedDisableAll{*std::move(reason), *std::move(databases), *std::move(roles)};
}

std::string StatePrefix(std::string_view key_prefix) { return std::string(key_prefix) + "/state/"; }

std::string DisableAllKey(std::string_view key_prefix) { return StatePrefix(key_prefix) + "disable_all"; }

std::string DatabaseStateKey(std::string_view key_prefix, std::string_view database) {
  return StatePrefix(key_prefix) + "databases/" + std::string(database);
}

StateKeyName ParseStateKey(std::string_view key_prefix, std::string_view key) {
  const std::string prefix = StatePrefix(key_prefix);
  if (!key.starts_with(prefix)) return {};
  key.remove_prefix(prefix.size());
  if (key == "disable_all") return {StateKeyName::Kind::kDisableAll, {}};
  constexpr std::string_view kDatabases = "databases/";
  // A database's name is anything but empty (PostgreSQL allows '/').
  if (key.starts_with(kDatabases) && key.size() > kDatabases.size()) {
    return {StateKeyName::Kind::kDatabase, std::string(key.substr(kDatabases.size()))};
  }
  return {};
}

}  // namespace pgvalve::fleet
