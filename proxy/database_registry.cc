#include "proxy/database_registry.h"

#include <algorithm>

namespace pgvalve::proxy {

std::shared_ptr<DatabaseGate> DatabaseRegistry::Gate(std::string_view database) {
  std::lock_guard lock(mutex_);
  std::string key(database);
  auto found = gates_.find(key);
  if (found != gates_.end()) return found->second;
  auto gate = std::make_shared<DatabaseGate>(key, disable_all_);
  gates_.emplace(std::move(key), gate);
  return gate;
}

void DatabaseRegistry::Release(std::shared_ptr<DatabaseGate>& gate) {
  if (!gate) return;
  const std::string name = gate->name();
  gate.reset();
  std::lock_guard lock(mutex_);
  auto found = gates_.find(name);
  // Copies are only handed out under this mutex, so a use count of one
  // here means nobody else holds the gate nor can get it meanwhile.
  if (found != gates_.end() && found->second.use_count() == 1 && found->second->AtDefault()) {
    gates_.erase(found);
  }
}

size_t DatabaseRegistry::size() const {
  std::lock_guard lock(mutex_);
  return gates_.size();
}

bool DatabaseRegistry::Contains(std::string_view database) const {
  std::lock_guard lock(mutex_);
  return gates_.contains(std::string(database));
}

std::vector<std::shared_ptr<DatabaseGate>> DatabaseRegistry::All() const {
  std::vector<std::shared_ptr<DatabaseGate>> all;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, gate] : gates_) all.push_back(gate);
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a->name() < b->name(); });
  return all;
}

void DatabaseRegistry::SetOnStateChange(std::function<void()> callback) {
  std::lock_guard lock(mutex_);
  on_state_change_ = std::move(callback);
}

void DatabaseRegistry::StateChanged() const {
  std::function<void()> callback;
  {
    std::lock_guard lock(mutex_);
    callback = on_state_change_;
  }
  if (callback) callback();
}

}  // namespace pgvalve::proxy
