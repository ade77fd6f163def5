#include "protocol/protocol_error.h"

#include "absl/strings/cord.h"
#include "protocol/sqlstate.h"

namespace pgvalve::protocol {
namespace {
constexpr std::string_view kSqlStatePayloadKey = "pgvalve/sqlstate";
}  // namespace

absl::Status ErrorWithSqlState(std::string_view sqlstate, std::string_view message) {
  // Debian's abseil has its own string_view type, hence the explicit spans.
  absl::Status status = absl::InvalidArgumentError(absl::string_view(message.data(), message.size()));
  status.SetPayload(absl::string_view(kSqlStatePayloadKey.data(), kSqlStatePayloadKey.size()),
                    absl::Cord(absl::string_view(sqlstate.data(), sqlstate.size())));
  return status;
}

absl::Status ProtocolViolation(std::string_view message) {
  return ErrorWithSqlState(sqlstate::kProtocolViolation, message);
}

std::string SqlStateOf(const absl::Status& status) {
  if (auto payload = status.GetPayload(
          absl::string_view(kSqlStatePayloadKey.data(), kSqlStatePayloadKey.size()))) {
    return std::string(*payload);
  }
  return std::string(status.code() == absl::StatusCode::kInvalidArgument
                         ? sqlstate::kProtocolViolation
                         : sqlstate::kInternalError);
}

}  // namespace pgvalve::protocol
