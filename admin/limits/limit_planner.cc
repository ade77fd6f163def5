#include "admin/limits/limit_planner.h"

namespace pgvalve::admin {
namespace {

using config::Limit;
using proxy::SessionState;

// The limit that watches a session in `state`, if any.
std::optional<Limit> LimitFor(SessionState state) {
  switch (state) {
    case SessionState::kActive: return Limit::kQueryTimeout;
    case SessionState::kIdleInTransaction:
    case SessionState::kIdleInFailedTransaction: return Limit::kIdleInTransactionTimeout;
    case SessionState::kIdle: return Limit::kClientIdleTimeout;
    case SessionState::kStarting:
    case SessionState::kHeld: return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::vector<DueAction> LimitPlanner::Plan(
    std::span<const std::shared_ptr<proxy::SessionRecord>> sessions, LimitResolver& limits,
    proxy::WallClock::time_point now) {
  ++sweep_;
  std::vector<DueAction> due;
  for (const auto& session : sessions) {
    const proxy::StateStamp stamp = session->state_stamp();
    const std::optional<Limit> kind = LimitFor(stamp.state);
    if (!kind) continue;
    const DatabaseLimits& database = limits.For(session->identity().database);
    const std::optional<EffectiveLimit>& limit = database.Get(*kind);
    if (!limit || limit->value().count() <= 0 || limit->Exempts(session->identity().user)) continue;
    if (*kind == Limit::kQueryTimeout) {
      PlanQuery(session, *limit, database.query_timeout_grace(), stamp, now, due);
    } else {
      PlanClose(session, *kind, *limit, stamp, now, due);
    }
  }
  absl::erase_if(memory_, [this](const auto& entry) { return entry.second.sweep != sweep_; });
  return due;
}

void LimitPlanner::PlanQuery(const std::shared_ptr<proxy::SessionRecord>& session,
                             const EffectiveLimit& limit, std::chrono::milliseconds grace,
                             proxy::StateStamp stamp, proxy::WallClock::time_point now,
                             std::vector<DueAction>& due) {
  const proxy::WallClock::time_point query_start = session->query_start();
  if (now - query_start < limit.value()) return;
  Memory& memory = memory_[session->id()];
  memory.sweep = sweep_;
  memory.closed_stamp.reset();
  LimitAction action;
  if (memory.signalled_query != query_start) {
    memory.signalled_query = query_start;
    action = LimitAction::kCancel;
  } else if (now - memory.last_signal >= grace) {
    action = LimitAction::kTerminate;
  } else {
    return;
  }
  memory.last_signal = now;
  due.push_back(DueAction{action, Limit::kQueryTimeout, limit.value(), std::string(limit.set_on),
                          session, stamp, query_start});
}

void LimitPlanner::PlanClose(const std::shared_ptr<proxy::SessionRecord>& session, Limit kind,
                             const EffectiveLimit& limit, proxy::StateStamp stamp,
                             proxy::WallClock::time_point now, std::vector<DueAction>& due) {
  if (now - stamp.since < limit.value()) return;
  Memory& memory = memory_[session->id()];
  memory.sweep = sweep_;
  memory.signalled_query.reset();
  // Already asked: the close is on its way, or the session left the
  // stretch it was meant for and CloseIfStill let it be.
  if (memory.closed_stamp == stamp) return;
  memory.closed_stamp = stamp;
  due.push_back(DueAction{LimitAction::kClose, kind, limit.value(), std::string(limit.set_on),
                          session, stamp, session->query_start()});
}

}  // namespace pgvalve::admin
