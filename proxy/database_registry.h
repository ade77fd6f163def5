#pragma once
// Every database pgvalve holds runtime state for, by name. A gate is created
// the first time a session or an operator names the database and lives as
// long as the process, so sessions can keep a plain shared_ptr to it.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "proxy/database_gate.h"

namespace pgvalve::proxy {

class DatabaseRegistry {
 public:
  std::shared_ptr<DatabaseGate> Gate(std::string_view database);
  // Ordered by name.
  std::vector<std::shared_ptr<DatabaseGate>> All() const;

  // Called after an operator changed a database's lasting state (disable,
  // pause), so that it can be persisted.
  void SetOnStateChange(std::function<void()> callback);
  void StateChanged() const;

 private:
  mutable std::mutex mutex_;
  absl::flat_hash_map<std::string, std::shared_ptr<DatabaseGate>> gates_;
  std::function<void()> on_state_change_;
};

}  // namespace pgvalve::proxy
