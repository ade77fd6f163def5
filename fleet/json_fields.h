#pragma once
// Reading the fleet's own JSON documents (instance records, job
// announcements and reports) leniently: a field that is missing or of
// another type reads as empty or zero, so that a document written by
// another version of pgvalve still reads. No I/O.

#include <boost/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace pgvalve::fleet {

// `text` as an object; DataLoss naming `what` otherwise.
absl::StatusOr<boost::json::object> ParseJsonObject(std::string_view text, std::string_view what);
std::string StringField(const boost::json::object& object, std::string_view name);
int64_t IntField(const boost::json::object& object, std::string_view name);

}  // namespace pgvalve::fleet
