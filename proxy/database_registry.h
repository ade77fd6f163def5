#pragma once
// Every database pgvalve holds runtime state for, by name. A gate is created
// when a session or an operator names the database, and dropped again once
// nobody holds it and it is back at its defaults: the database names that
// clients send before they authenticate are theirs to choose, so what they
// leave behind must not outlive their sessions. What remains is bounded by
// live sessions plus the databases operators acted on.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "proxy/database_gate.h"
#include "proxy/disable_all.h"

namespace pgvalve::proxy {

class DatabaseRegistry {
 public:
  std::shared_ptr<DatabaseGate> Gate(std::string_view database);
  // Gives back a gate obtained from Gate(), dropping it from the registry
  // when that was the last holder and it is at its defaults. `gate` is
  // null afterwards.
  void Release(std::shared_ptr<DatabaseGate>& gate);
  // Whether `database` has a gate, without making one (nor holding it).
  bool Contains(std::string_view database) const;
  // Ordered by name.
  std::vector<std::shared_ptr<DatabaseGate>> All() const;
  size_t size() const;

  // DISABLE ALL, which every gate consults.
  DisableAll& disable_all() { return *disable_all_; }
  const DisableAll& disable_all() const { return *disable_all_; }

  // Called after an operator changed a database's lasting state (disable,
  // pause), so that it can be persisted.
  void SetOnStateChange(std::function<void()> callback);
  void StateChanged() const;

 private:
  mutable std::mutex mutex_;
  absl::flat_hash_map<std::string, std::shared_ptr<DatabaseGate>> gates_;
  std::function<void()> on_state_change_;
  const std::shared_ptr<DisableAll> disable_all_ = std::make_shared<DisableAll>();
};

}  // namespace pgvalve::proxy
