#include "fleet/instance_record.h"

#include <boost/json.hpp>

namespace pgvalve::fleet {
namespace {

namespace json = boost::json;

std::string StringOf(const json::object& object, std::string_view name) {
  const json::value* found = object.if_contains(name);
  return found != nullptr && found->is_string() ? std::string(std::string_view(found->as_string())) : "";
}

template <typename T>
T NumberOf(const json::object& object, std::string_view name) {
  const json::value* found = object.if_contains(name);
  if (found == nullptr) return 0;
  if (found->is_int64()) return static_cast<T>(found->as_int64());
  if (found->is_uint64()) return static_cast<T>(found->as_uint64());
  return 0;
}

}  // namespace

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
  boost::system::error_code error;
  const json::value value = json::parse(json::string_view(text.data(), text.size()), error);
  if (error || !value.is_object()) return absl::DataLossError("an instance record that is not a JSON object");
  const json::object& object = value.as_object();
  InstanceRecord record;
  record.id = StringOf(object, "id");
  if (record.id.empty()) return absl::DataLossError("an instance record without id");
  record.address = StringOf(object, "address");
  record.version = StringOf(object, "version");
  record.sessions = NumberOf<uint64_t>(object, "sessions");
  record.applied_revision = NumberOf<int64_t>(object, "applied_revision");
  const json::value* slot = object.if_contains("slot");
  record.slot = slot != nullptr && slot->is_int64() ? static_cast<int>(slot->as_int64()) : -1;
  record.started = StringOf(object, "started");
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
