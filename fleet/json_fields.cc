#include "fleet/json_fields.h"

namespace pgvalve::fleet {

namespace json = boost::json;

absl::StatusOr<json::object> ParseJsonObject(std::string_view text, std::string_view what) {
  boost::system::error_code error;
  json::value value = json::parse(json::string_view(text.data(), text.size()), error);
  if (error || !value.is_object()) {
    return absl::DataLossError(std::string(what) + " that is not a JSON object");
  }
  return std::move(value.as_object());
}

std::string StringField(const json::object& object, std::string_view name) {
  const json::value* found = object.if_contains(name);
  return found != nullptr && found->is_string() ? std::string(std::string_view(found->as_string())) : "";
}

int64_t IntField(const json::object& object, std::string_view name) {
  const json::value* found = object.if_contains(name);
  if (found == nullptr) return 0;
  if (found->is_int64()) return found->as_int64();
  if (found->is_uint64()) return static_cast<int64_t>(found->as_uint64());
  return 0;
}

}  // namespace pgvalve::fleet
