#include "proxy/database_gate.h"

#include <algorithm>

#include "proxy/disable_all.h"

namespace pgvalve::proxy {

void DatabaseGate::Disable(DisableState state) {
  std::lock_guard lock(mutex_);
  disabled_ = std::move(state);
}

void DatabaseGate::Enable() {
  std::lock_guard lock(mutex_);
  disabled_.reset();
}

std::optional<std::string> DatabaseGate::RefusalFor(std::string_view user) const {
  {
    std::lock_guard lock(mutex_);
    if (disabled_) {
      const auto& excepted = disabled_->except_roles;
      if (std::find(excepted.begin(), excepted.end(), user) == excepted.end()) return disabled_->reason;
    }
  }
  if (disable_all_) return disable_all_->RefusalFor(name_, user);
  return std::nullopt;
}

void DatabaseGate::SwitchRoute(std::optional<RouteSwitch> route_switch) {
  std::lock_guard lock(mutex_);
  route_switched_.store(route_switch.has_value(), std::memory_order_relaxed);
  route_switch_ = std::move(route_switch);
}

std::optional<RouteSwitch> DatabaseGate::route_switch() const {
  std::lock_guard lock(mutex_);
  return route_switch_;
}

void DatabaseGate::Pause(StateOrigin origin) {
  std::lock_guard lock(mutex_);
  pause_origin_ = origin;
  paused_.store(true, std::memory_order_release);
}

std::vector<ReleasedHold> DatabaseGate::Resume() {
  std::list<Holder> released;
  {
    std::lock_guard lock(mutex_);
    paused_.store(false, std::memory_order_release);
    pause_origin_ = StateOrigin::kDefault;
    released.swap(holders_);
  }
  const auto now = std::chrono::steady_clock::now();
  std::vector<ReleasedHold> waits;
  waits.reserve(released.size());
  // Posted in arrival order; each executor runs its own in that order.
  for (Holder& holder : released) {
    waits.push_back({holder.kind, now - holder.since});
    asio::post(holder.executor, std::move(holder.wake));
  }
  return waits;
}

std::optional<DatabaseGate::HoldTicket> DatabaseGate::StartHolding(asio::any_io_executor executor,
                                                                   std::function<void()> wake,
                                                                   HoldKind kind) {
  std::lock_guard lock(mutex_);
  // Checked under the mutex so a RESUME cannot slip in between the
  // caller's look at paused() and its registration.
  if (!paused_.load(std::memory_order_relaxed)) return std::nullopt;
  HoldTicket ticket = next_ticket_++;
  holders_.push_back(Holder{ticket, std::move(executor), std::move(wake), kind,
                            std::chrono::steady_clock::now()});
  return ticket;
}

void DatabaseGate::StopHolding(HoldTicket ticket) {
  std::lock_guard lock(mutex_);
  holders_.remove_if([ticket](const Holder& holder) { return holder.ticket == ticket; });
}

DatabaseGate::WatchTicket DatabaseGate::Watch(std::function<void()> on_change) {
  std::lock_guard lock(mutex_);
  WatchTicket ticket = next_ticket_++;
  watchers_.emplace_back(ticket, std::move(on_change));
  watched_.store(true, std::memory_order_relaxed);
  return ticket;
}

void DatabaseGate::Unwatch(WatchTicket ticket) {
  std::lock_guard lock(mutex_);
  std::erase_if(watchers_, [ticket](const auto& watcher) { return watcher.first == ticket; });
  watched_.store(!watchers_.empty(), std::memory_order_relaxed);
}

void DatabaseGate::NotifyWatchers() {
  std::vector<std::function<void()>> to_call;
  {
    std::lock_guard lock(mutex_);
    if (watchers_.empty()) return;
    for (const auto& [ticket, callback] : watchers_) to_call.push_back(callback);
  }
  for (auto& callback : to_call) callback();
}

DatabaseGateSnapshot DatabaseGate::Snapshot() const {
  std::lock_guard lock(mutex_);
  return DatabaseGateSnapshot{.name = name_,
                              .disabled = disabled_,
                              .route_switch = route_switch_,
                              .paused = paused_.load(std::memory_order_relaxed),
                              .pause_origin = pause_origin_,
                              .held = holders_.size()};
}

bool DatabaseGate::AtDefault() const {
  std::lock_guard lock(mutex_);
  return !disabled_ && !route_switch_ && !paused_.load(std::memory_order_relaxed) &&
         holders_.empty() && watchers_.empty();
}

}  // namespace pgvalve::proxy
