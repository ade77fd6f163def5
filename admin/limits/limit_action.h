#pragma once
// What a limit does to a session, named once for the audit lines, SHOW
// LIMITS and (later) the metrics.

#include <array>
#include <cstdint>
#include <string_view>

namespace pgvalve::admin {

enum class LimitAction : uint8_t {
  kCancel,     // a CancelRequest to the running query
  kTerminate,  // pg_terminate_backend through the control connection
  kClose,      // the session closed with a FATAL (and Terminate to its backend)
};

inline constexpr std::array<LimitAction, 3> kAllLimitActions = {
    LimitAction::kCancel, LimitAction::kTerminate, LimitAction::kClose};

constexpr std::string_view LimitActionName(LimitAction action) {
  switch (action) {
    case LimitAction::kCancel: return "cancel";
    case LimitAction::kTerminate: return "terminate";
    case LimitAction::kClose: return "close";
  }
  return "unknown";
}

}  // namespace pgvalve::admin
