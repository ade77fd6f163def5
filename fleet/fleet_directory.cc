#include "fleet/fleet_directory.h"

#include <algorithm>

namespace pgvalve::fleet {
namespace {

// A record another version wrote, or a hand-written key: listed by its key,
// with nothing applied.
InstanceRecord RecordOf(const std::string& id, std::string_view value) {
  absl::StatusOr<InstanceRecord> record = DecodeInstance(value);
  if (!record.ok()) return InstanceRecord{.id = id};
  record->id = id;
  return *std::move(record);
}

}  // namespace

void FleetDirectory::Reset(const std::vector<KeyValue>& kvs) {
  const std::string prefix = InstancesPrefix(key_prefix_);
  instances_.clear();
  for (const KeyValue& kv : kvs) {
    if (!kv.key.starts_with(prefix)) continue;
    const std::string id = kv.key.substr(prefix.size());
    instances_[id] = RecordOf(id, kv.value);
  }
  Changed();
}

void FleetDirectory::Apply(const WatchEvent& event) {
  const std::string prefix = InstancesPrefix(key_prefix_);
  if (!event.kv.key.starts_with(prefix)) return;
  const std::string id = event.kv.key.substr(prefix.size());
  if (event.type == WatchEvent::Type::kDelete) {
    instances_.erase(id);
  } else {
    instances_[id] = RecordOf(id, event.kv.value);
  }
  Changed();
}

std::vector<InstanceRecord> FleetDirectory::Instances() const {
  std::vector<InstanceRecord> instances;
  for (const auto& [id, record] : instances_) instances.push_back(record);
  return instances;
}

std::vector<InstanceRecord> FleetDirectory::Lagging(int64_t revision) const {
  std::vector<InstanceRecord> lagging;
  for (const auto& [id, record] : instances_) {
    if (record.applied_revision < revision) lagging.push_back(record);
  }
  return lagging;
}

void FleetDirectory::Changed() {
  std::erase_if(waiters_, [](const std::weak_ptr<proxy::asio::steady_timer>& waiter) {
    std::shared_ptr<proxy::asio::steady_timer> timer = waiter.lock();
    if (timer) timer->cancel();
    return !timer;
  });
  if (on_change_) on_change_();
}

proxy::Awaitable<std::vector<InstanceRecord>> FleetDirectory::WaitForRevision(
    int64_t revision, std::chrono::steady_clock::time_point deadline) {
  auto timer = std::make_shared<proxy::asio::steady_timer>(co_await proxy::asio::this_coro::executor);
  while (true) {
    std::vector<InstanceRecord> lagging = Lagging(revision);
    if (lagging.empty() || std::chrono::steady_clock::now() >= deadline) co_return lagging;
    timer->expires_at(deadline);
    waiters_.push_back(timer);
    // Woken by a change (canceled) or by the deadline; either way, look again.
    co_await timer->async_wait(proxy::kUseTuple);
  }
}

}  // namespace pgvalve::fleet
