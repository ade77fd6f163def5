#include "proxy/session_registry.h"

#include <algorithm>

namespace pgvalve::proxy {

bool SessionRegistry::TryReserveSlot(uint32_t limit) {
  uint32_t in_use = slots_in_use_.load(std::memory_order_relaxed);
  while (in_use < limit) {
    if (slots_in_use_.compare_exchange_weak(in_use, in_use + 1, std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

void SessionRegistry::Add(std::shared_ptr<SessionRecord> record) {
  std::lock_guard lock(mutex_);
  sessions_.emplace(record->id(), std::move(record));
}

void SessionRegistry::Remove(uint64_t session_id) {
  std::lock_guard lock(mutex_);
  auto found = sessions_.find(session_id);
  if (found == sessions_.end()) return;
  const SessionRecord& record = *found->second;
  auto& by_name = ended_totals_.by_name;
  auto row = by_name.find(record.identity().database);
  if (row == by_name.end() && record.virtual_pid() != 0 &&
      by_name.size() < kMaxDatabasesWithCounters) {
    row = by_name.emplace(record.identity().database, CounterValues{}).first;
  }
  if (row != by_name.end()) {
    row->second += record.counters().Load();
  } else {
    ended_totals_.others += record.counters().Load();
    ended_totals_.has_others = true;
  }
  sessions_.erase(found);
}

SessionRegistry::DatabaseCounters SessionRegistry::CountersByDatabase() const {
  std::lock_guard lock(mutex_);
  DatabaseCounters totals = ended_totals_;
  for (const auto& [id, record] : sessions_) {
    totals.by_name[record->identity().database] += record->counters().Load();
  }
  return totals;
}

std::shared_ptr<SessionRecord> SessionRegistry::Find(uint64_t session_id) const {
  std::lock_guard lock(mutex_);
  auto found = sessions_.find(session_id);
  return found == sessions_.end() ? nullptr : found->second;
}

std::shared_ptr<SessionRecord> SessionRegistry::FindByVirtualPid(int32_t virtual_pid) const {
  std::lock_guard lock(mutex_);
  for (const auto& [id, record] : sessions_) {
    if (record->virtual_pid() == virtual_pid) return record;
  }
  return nullptr;
}

std::shared_ptr<SessionRecord> SessionRegistry::FindByBackendPid(int32_t backend_pid) const {
  std::lock_guard lock(mutex_);
  for (const auto& [id, record] : sessions_) {
    if (record->backend_pid() == backend_pid) return record;
  }
  return nullptr;
}

std::vector<std::shared_ptr<SessionRecord>> SessionRegistry::All() const {
  std::vector<std::shared_ptr<SessionRecord>> all;
  {
    std::lock_guard lock(mutex_);
    all.reserve(sessions_.size());
    for (const auto& [id, record] : sessions_) all.push_back(record);
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a->id() < b->id(); });
  return all;
}

void SessionRegistry::CollectUnordered(std::vector<std::shared_ptr<SessionRecord>>& out) const {
  out.clear();
  std::lock_guard lock(mutex_);
  out.reserve(sessions_.size());
  for (const auto& [id, record] : sessions_) out.push_back(record);
}

size_t SessionRegistry::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

}  // namespace pgvalve::proxy
