#pragma once
// What a client session is doing, in the words pg_stat_activity uses, plus
// the states only a proxy has.

#include <cstdint>
#include <string_view>

namespace pgvalve::proxy {

enum class SessionState : uint8_t {
  kStarting,                 // startup and authentication still running
  kIdle,                     // between transactions
  kActive,                   // a request is being answered
  kIdleInTransaction,        // inside a transaction block, waiting for the client
  kIdleInFailedTransaction,  // inside a failed transaction block
  kHeld,                     // the next request is held back by pgvalve (pause)
};

constexpr std::string_view SessionStateName(SessionState state) {
  switch (state) {
    case SessionState::kStarting: return "starting";
    case SessionState::kIdle: return "idle";
    case SessionState::kActive: return "active";
    case SessionState::kIdleInTransaction: return "idle in transaction";
    case SessionState::kIdleInFailedTransaction: return "idle in transaction (aborted)";
    case SessionState::kHeld: return "held";
  }
  return "unknown";
}

}  // namespace pgvalve::proxy
