#include "fleet/instance_record.h"

#include <boost/json.hpp>

#include "fleet/json_fields.h"

namespace pgvalve::fleet {

namespace json = boost::json;

std::string EncodeInstance(const InstanceRecord& record) {
  return json::serialize(json::object{{"id", record.id},
                                      {"address", record.address},
                                      {"version", record.version},
                                      {"sessions", record.sessions},
                                      {"applied_revision", record.applied_revision},
                                      {"slot", record.slot},
                                      {"started", record.started}});
}

absl::StatusOr<InstanceRecord> DecodeInstance(std::string_view text) {
  absl::StatusOr<json::object> parsed = ParseJsonObject(text, "an instance record");
  if (!parsed.ok()) return parsed.status();
  const json::object& object = *parsed;
  InstanceRecord record;
  record.id = StringField(object, "id");
  if (record.id.empty()) return absl::DataLossError("an instance record without id");
  record.address = StringField(object, "address");
  record.version = StringField(object, "version");
  record.sessions = static_cast<uint64_t>(IntField(object, "sessions"));
  record.applied_revision = IntField(object, "applied_revision");
  const json::value* slot = object.if_contains("slot");
  record.slot = slot != nullptr && slot->is_int64() ? static_cast<int>(slot->as_int64()) : -1;
  record.started = StringField(object, "started");
  return record;
}

std::string InstancesPrefix(std::string_view key_prefix) { return std::string(key_prefix) + "/instances/"; }

std::string SlotsPrefix(std::string_view key_prefix) { return std::string(key_prefix) + "/slots/"; }

std::string SlotKey(std::string_view key_prefix, int slot) {
  return SlotsPrefix(key_prefix) + std::to_string(slot);
}

std::string InstanceKey(std::string_view key_prefix, std::string_view id) {
  return InstancesPrefix(key_prefix) + std::string(id);
}

}  // namespace pgvalve::fleet
