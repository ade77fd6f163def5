#pragma once
// The runtime controls of one database, shared by its sessions (on any
// worker) and the admin console: whether new sessions are admitted
// (DISABLE), whether requests are held at transaction boundaries (PAUSE),
// which upstream new sessions go to when an operator switched it (SWITCH,
// CUTOVER), and who is waiting for any of these to change.
//
// Sessions read `paused()` once per transaction; everything else happens
// only while an operator is acting, under a mutex.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "proxy/asio.h"

namespace pgvalve::proxy {

// Where a database's current state came from, for SHOW DATABASES: a
// command on this instance, the state file, or (kFleet) another instance
// of the fleet, through etcd.
enum class StateOrigin { kDefault, kAdminCommand, kStateFile, kFleet };

struct DisableState {
  std::string reason;
  std::vector<std::string> except_roles;
  StateOrigin origin = StateOrigin::kAdminCommand;
};

// New sessions go to `upstream` instead of the configured route.
struct RouteSwitch {
  std::string upstream;
  std::chrono::system_clock::time_point at;
  std::string by;  // who switched: "admin user (address)", or a CUTOVER's name
  StateOrigin origin = StateOrigin::kAdminCommand;
};

// What a holder waits with: a new session before its upstream connection,
// or a session's next request.
enum class HoldKind { kNewSession, kRequest };

// One holder RESUME released, and how long it had waited.
struct ReleasedHold {
  HoldKind kind = HoldKind::kRequest;
  std::chrono::steady_clock::duration waited{};
};

struct DatabaseGateSnapshot {
  std::string name;
  std::optional<DisableState> disabled;
  std::optional<RouteSwitch> route_switch;
  bool paused = false;
  StateOrigin pause_origin = StateOrigin::kDefault;
  size_t held = 0;  // requests and new sessions waiting for RESUME
};

class DisableAll;

class DatabaseGate {
 public:
  // `disable_all`, when given, is consulted by RefusalFor after the
  // database's own DISABLE.
  explicit DatabaseGate(std::string name, std::shared_ptr<const DisableAll> disable_all = nullptr)
      : name_(std::move(name)), disable_all_(std::move(disable_all)) {}

  const std::string& name() const { return name_; }

  // DISABLE / ENABLE.
  void Disable(DisableState state);
  void Enable();
  // nullopt when `user` may open a session: neither this database's DISABLE
  // nor DISABLE ALL refuses it. Otherwise the reason to refuse.
  std::optional<std::string> RefusalFor(std::string_view user) const;

  // SWITCH: where new sessions go from now on; nullopt returns to the
  // configured route. Sessions read it once, when they connect upstream.
  void SwitchRoute(std::optional<RouteSwitch> route_switch);
  std::optional<RouteSwitch> route_switch() const;
  // One relaxed load: whether route_switch() is worth taking the mutex for.
  bool route_switched() const { return route_switched_.load(std::memory_order_relaxed); }

  // PAUSE / RESUME. Resume wakes every holder in the order it started
  // waiting.
  bool paused() const { return paused_.load(std::memory_order_acquire); }
  void Pause(StateOrigin origin);
  // Returns whom it released (a CUTOVER reports the hold window).
  std::vector<ReleasedHold> Resume();

  // A holder waits until `wake` is called (posted to its own executor) or
  // gives up by itself. Returns nullopt, without registering, when the gate
  // is no longer paused: the caller must not wait.
  using HoldTicket = uint64_t;
  std::optional<HoldTicket> StartHolding(asio::any_io_executor executor, std::function<void()> wake,
                                         HoldKind kind = HoldKind::kRequest);
  void StopHolding(HoldTicket ticket);

  // Watchers (an admin PAUSE or DRAIN waiting for sessions) are called on
  // any thread whenever a session of this database becomes held, gets a
  // ReadyForQuery, or ends. Sessions only look at watched(), one relaxed
  // load, unless someone is watching.
  using WatchTicket = uint64_t;
  WatchTicket Watch(std::function<void()> on_change);
  void Unwatch(WatchTicket ticket);
  void NotifyWatchers();
  bool watched() const { return watched_.load(std::memory_order_relaxed); }

  DatabaseGateSnapshot Snapshot() const;
  // True when the gate is neither disabled, paused nor switched and nobody
  // holds or watches on it: dropping it loses nothing.
  bool AtDefault() const;

 private:
  struct Holder {
    HoldTicket ticket;
    asio::any_io_executor executor;
    std::function<void()> wake;
    HoldKind kind;
    std::chrono::steady_clock::time_point since;
  };

  const std::string name_;
  const std::shared_ptr<const DisableAll> disable_all_;
  std::atomic<bool> paused_{false};
  std::atomic<bool> watched_{false};
  std::atomic<bool> route_switched_{false};

  mutable std::mutex mutex_;
  std::optional<DisableState> disabled_;
  std::optional<RouteSwitch> route_switch_;
  StateOrigin pause_origin_ = StateOrigin::kDefault;
  std::list<Holder> holders_;
  std::vector<std::pair<WatchTicket, std::function<void()>>> watchers_;
  uint64_t next_ticket_ = 1;
};

}  // namespace pgvalve::proxy
