#include "proxy/cancel_routes.h"

#include "proxy/cancel_key_map.h"

namespace pgvalve::proxy {

void CancelRoutes::Set(int own_slot, std::map<int, CancelPeer> peers) {
  std::lock_guard lock(mutex_);
  own_slot_ = own_slot;
  peers_ = std::move(peers);
}

std::optional<CancelPeer> CancelRoutes::OwnerOf(int32_t virtual_pid) const {
  const std::optional<int> slot = InstanceSlotOf(virtual_pid);
  if (!slot) return std::nullopt;
  std::lock_guard lock(mutex_);
  // Its own pids are never sent on: the session is gone, or the secret was
  // wrong. That also ends any loop between two instances that disagree.
  if (*slot == own_slot_) return std::nullopt;
  auto peer = peers_.find(*slot);
  if (peer == peers_.end()) return std::nullopt;
  return peer->second;
}

}  // namespace pgvalve::proxy
