#pragma once
// What pins a session to the server it is on: its temporary tables and
// LISTEN channels, which only the session itself can see. DRAIN's and
// CUTOVER's dry runs ask every idle pgvalve session at once through the
// relay's probe.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/asio.h"
#include "proxy/session_record.h"

namespace pgvalve::admin {

struct SessionHolds {
  std::optional<std::string> temp_tables;  // comma-separated names
  std::optional<std::string> listening;    // comma-separated channels
  std::string unavailable;                 // why the session was not asked
};

// Probes every idle session of `sessions` at once and waits for the
// answers, at most a couple of seconds; keyed by client id. A session that
// is not idle is not asked (a probe runs only at a transaction boundary).
proxy::Awaitable<std::map<uint64_t, SessionHolds>> ProbeSessionHolds(
    const std::vector<std::shared_ptr<proxy::SessionRecord>>& sessions);

}  // namespace pgvalve::admin
