#pragma once
// The live instances of the fleet as this instance's watch last saw them
// (their records under their leases), and waiting on them: a state change
// is done once every live instance says it has applied its revision, and
// an instance whose lease expired is no longer waited for. Control thread
// only.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fleet/etcd_codec.h"
#include "fleet/instance_record.h"
#include "proxy/asio.h"

namespace pgvalve::fleet {

class FleetDirectory {
 public:
  explicit FleetDirectory(std::string key_prefix) : key_prefix_(std::move(key_prefix)) {}

  // Every instance's key as of a range (the keys under InstancesPrefix).
  void Reset(const std::vector<KeyValue>& kvs);
  // One change a watch saw under InstancesPrefix.
  void Apply(const WatchEvent& event);

  // In id order.
  std::vector<InstanceRecord> Instances() const;

  // Returns once every listed instance has applied `revision`, or at
  // `deadline` with those that have not (in id order).
  proxy::Awaitable<std::vector<InstanceRecord>> WaitForRevision(int64_t revision,
                                                                std::chrono::steady_clock::time_point deadline);

  // Called after every change of the list (cancel routing follows it).
  void SetOnChange(std::function<void()> on_change) { on_change_ = std::move(on_change); }

 private:
  void Changed();
  std::vector<InstanceRecord> Lagging(int64_t revision) const;

  const std::string key_prefix_;
  std::map<std::string, InstanceRecord> instances_;  // by id
  // The timers of waiting WaitForRevision calls: a change wakes them all.
  std::vector<std::weak_ptr<proxy::asio::steady_timer>> waiters_;
  std::function<void()> on_change_;
};

}  // namespace pgvalve::fleet
