#pragma once
// What an admitted session holds until it ends, given back in one place
// however it ends: its max_client_connections slot, its database gate, its
// record in the registry (marked with how it ended), its virtual cancel key,
// and the closing log line. ClientSession's steps (admission, connection,
// relay) say how the session is ending; the scope's destructor does the rest.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/cancel_key_map.h"
#include "proxy/database_gate.h"
#include "proxy/database_registry.h"
#include "proxy/session_record.h"
#include "proxy/session_registry.h"

namespace pgvalve::proxy {

class SessionScope {
 public:
  // Takes over a slot already reserved in `sessions` and a lease on `gate`.
  SessionScope(SessionRegistry& sessions, DatabaseRegistry& databases, CancelKeyMap& cancel_keys,
               std::shared_ptr<DatabaseGate> gate);
  ~SessionScope();
  SessionScope(const SessionScope&) = delete;
  SessionScope& operator=(const SessionScope&) = delete;

  DatabaseGate& gate() { return *gate_; }

  // Adds the record to the registry (SHOW CLIENTS sees the session from
  // now on) and starts the clock of the closing log line.
  void Register(std::shared_ptr<SessionRecord> record);
  SessionRecord& record() { return *record_; }
  uint64_t id() const { return record_->id(); }

  // How the session ends, for SHOW and the closing line ("client
  // disconnected", "startup failed", ...); the last call wins. `detail` is
  // shown after the reason.
  void End(SessionEnd end, std::string_view reason, std::string detail = {});

 private:
  SessionRegistry& sessions_;
  DatabaseRegistry& databases_;
  CancelKeyMap& cancel_keys_;
  std::shared_ptr<DatabaseGate> gate_;
  std::shared_ptr<SessionRecord> record_;
  std::chrono::steady_clock::time_point registered_at_;
  // Until a step says otherwise: a session torn down by an exception or a
  // shutdown never got to a working state worth another name.
  SessionEnd end_ = SessionEnd::kStartupFailed;
  std::string_view reason_ = "ended";
  std::string detail_;
};

}  // namespace pgvalve::proxy
