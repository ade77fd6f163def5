#include "protocol/protocol_error.h"

#include "absl/strings/cord.h"
#include "protocol/sqlstate.h"

namespace pgvalve::protocol {
namespace {
constexpr std::string_view kSqlStatePayloadKey = "pgvalve/sqlstate";
constexpr std::string_view kDetailPayloadKey = "pgvalve/detail";

// Debian's abseil has its own string_view type.
absl::string_view Absl(std::string_view text) { return absl::string_view(text.data(), text.size()); }
}  // namespace

absl::Status WithDetail(absl::Status status, std::string_view detail) {
  status.SetPayload(Absl(kDetailPayloadKey), absl::Cord(Absl(detail)));
  return status;
}

std::string DetailOf(const absl::Status& status) {
  if (auto payload = status.GetPayload(Absl(kDetailPayloadKey))) return std::string(*payload);
  return {};
}

absl::Status ErrorWithSqlState(std::string_view sqlstate, std::string_view message) {
  absl::Status status = absl::InvalidArgumentError(Absl(message));
  status.SetPayload(Absl(kSqlStatePayloadKey), absl::Cord(Absl(sqlstate)));
  return status;
}

absl::Status WithSqlState(absl::Status status, std::string_view sqlstate) {
  status.SetPayload(Absl(kSqlStatePayloadKey), absl::Cord(Absl(sqlstate)));
  return status;
}

absl::Status ProtocolViolation(std::string_view message) {
  return ErrorWithSqlState(sqlstate::kProtocolViolation, message);
}

std::string SqlStateOf(const absl::Status& status) {
  if (auto payload = status.GetPayload(Absl(kSqlStatePayloadKey))) {
    return std::string(*payload);
  }
  return std::string(sqlstate::kInternalError);
}

}  // namespace pgvalve::protocol
