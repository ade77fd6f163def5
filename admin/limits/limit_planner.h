#pragma once
// Decides, from sessions' timestamps alone, which limit actions are due:
//   query_timeout: an active session whose query began longer ago than the
//     limit gets one cancel for that query; if the same query still runs a
//     query_timeout_grace after the last action, its backend is terminated
//     (again after each further grace, should it survive).
//   idle_in_transaction_timeout: a session idle in a transaction (or in a
//     failed one) for longer than the limit since it went idle, as
//     PostgreSQL measures its own, is closed.
//   client_idle_timeout: a session idle outside a transaction for longer
//     than the limit is closed.
// Sessions still starting or held are never acted on, nor those whose user
// the limit excepts. No I/O and no clock: the caller says what time it is,
// and carries the actions out (LimitEnforcer).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "admin/limits/effective_limits.h"
#include "admin/limits/limit_action.h"
#include "config/limits.h"
#include "proxy/session_record.h"

namespace pgvalve::admin {

struct DueAction {
  LimitAction action = LimitAction::kCancel;
  config::Limit limit = config::Limit::kQueryTimeout;
  std::chrono::milliseconds value{0};
  // The database the setting that fired names: the session's, or "*".
  std::string set_on;
  std::shared_ptr<proxy::SessionRecord> session;
  // What the decision saw: a close applies only while the session is still
  // in this stretch of idleness (SessionControl::CloseIfStill); a cancel or
  // terminate only while this query runs.
  proxy::StateStamp stamp;
  proxy::WallClock::time_point query_start;
};

class LimitPlanner {
 public:
  // What is due at `now`. Remembers what it decided, so the next sweep
  // neither cancels the same query twice nor closes a session twice, and
  // forgets sessions that went away or moved on.
  std::vector<DueAction> Plan(std::span<const std::shared_ptr<proxy::SessionRecord>> sessions,
                              LimitResolver& limits, proxy::WallClock::time_point now);

  // Sessions with a decision remembered; for tests.
  size_t remembered() const { return memory_.size(); }

 private:
  struct Memory {
    // The query a cancel or terminate was decided for, and when the last one was.
    std::optional<proxy::WallClock::time_point> signalled_query;
    proxy::WallClock::time_point last_signal;
    // The idle stretch a close was decided for.
    std::optional<proxy::StateStamp> closed_stamp;
    uint64_t sweep = 0;  // the last sweep that still needed this memory
  };

  void PlanQuery(const std::shared_ptr<proxy::SessionRecord>& session, const EffectiveLimit& limit,
                 std::chrono::milliseconds grace, proxy::StateStamp stamp,
                 proxy::WallClock::time_point now, std::vector<DueAction>& due);
  void PlanClose(const std::shared_ptr<proxy::SessionRecord>& session, config::Limit kind,
                 const EffectiveLimit& limit, proxy::StateStamp stamp,
                 proxy::WallClock::time_point now, std::vector<DueAction>& due);

  absl::flat_hash_map<uint64_t, Memory> memory_;
  uint64_t sweep_ = 0;
};

}  // namespace pgvalve::admin
