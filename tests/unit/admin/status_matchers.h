#pragma once
// Matchers for the statuses the authenticator returns.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "protocol/protocol_error.h"

namespace pgvalve::admin::testutil {

inline const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// A failed Status or StatusOr whose SQLSTATE is `code`.
MATCHER_P(HasSqlState, code, "is an error with SQLSTATE " + std::string(code)) {
  const absl::Status& status = StatusOf(arg);
  if (status.ok()) {
    *result_listener << "which is OK";
    return false;
  }
  const std::string actual = protocol::SqlStateOf(status);
  *result_listener << "whose SQLSTATE is " << actual << " (" << status.message() << ")";
  return actual == std::string(code);
}

inline auto IsProtocolViolation() { return HasSqlState("08P01"); }
inline auto IsInvalidPassword() { return HasSqlState("28P01"); }
inline auto IsNotSupported() { return HasSqlState("0A000"); }

}  // namespace pgvalve::admin::testutil
