#pragma once
// Every live client session, for the admin console and for enforcing
// max_client_connections. Touched when sessions open and close and when an
// operator looks; never on the per-message path.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "proxy/session_record.h"

namespace pgvalve::proxy {

// What SHOW STATS and /metrics call the databases whose counters add up in
// SessionRegistry::DatabaseCounters::others.
inline constexpr std::string_view kOtherDatabases = "(other databases)";

class SessionRegistry {
 public:
  uint64_t NextSessionId() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

  // Claims one of `limit` client slots; false when all are taken.
  bool TryReserveSlot(uint32_t limit);
  void ReleaseSlot() { slots_in_use_.fetch_sub(1, std::memory_order_relaxed); }
  uint32_t slots_in_use() const { return slots_in_use_.load(std::memory_order_relaxed); }

  void Add(std::shared_ptr<SessionRecord> record);
  // Also adds the session's counters to its database's totals.
  void Remove(uint64_t session_id);

  std::shared_ptr<SessionRecord> Find(uint64_t session_id) const;
  std::shared_ptr<SessionRecord> FindByVirtualPid(int32_t virtual_pid) const;
  std::shared_ptr<SessionRecord> FindByBackendPid(int32_t backend_pid) const;
  // Ordered by session id.
  std::vector<std::shared_ptr<SessionRecord>> All() const;
  // Every session in no particular order, into `out` (cleared first, its
  // capacity kept): for a periodic walk over all sessions, such as the
  // limits' sweep, where All()'s sort would cost more than the walk.
  void CollectUnordered(std::vector<std::shared_ptr<SessionRecord>>& out) const;
  size_t size() const;

  // Counters per database: sessions that ended plus those still running.
  // An ended session's counters stay under its database's name only when
  // that database has a row already, or when the session got past
  // authentication (the backend sent its key) and fewer than
  // kMaxDatabasesWithCounters databases have one: a client chooses the
  // name before it authenticates, so names alone must not make rows. The
  // rest add up in `others`.
  struct DatabaseCounters {
    std::map<std::string, CounterValues> by_name;
    CounterValues others;
    bool has_others = false;
  };
  DatabaseCounters CountersByDatabase() const;

  static constexpr size_t kMaxDatabasesWithCounters = 1000;

 private:
  std::atomic<uint64_t> next_id_{1};
  std::atomic<uint32_t> slots_in_use_{0};
  mutable std::mutex mutex_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<SessionRecord>> sessions_;
  DatabaseCounters ended_totals_;
};

}  // namespace pgvalve::proxy
