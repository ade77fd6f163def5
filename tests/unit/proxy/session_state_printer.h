#pragma once
// Lets gtest print a SessionState by its name ("idle in transaction")
// rather than as a raw byte in failure messages.

#include <ostream>

#include "proxy/session_state.h"

namespace pgvalve::proxy {

inline void PrintTo(SessionState state, std::ostream* out) { *out << SessionStateName(state); }

}  // namespace pgvalve::proxy
