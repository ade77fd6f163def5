#pragma once
// Where a CancelRequest for another instance's session goes. Within a
// fleet every virtual pid carries the slot of the instance that minted it
// (cancel_key_map.h); a request whose pid names another live instance is
// sent on to that instance's client listener, as the very CancelRequest
// the client sent. The owner checks the secret as for any cancel request,
// so a wrong secret cancels nothing wherever it arrives, and nothing is
// ever broadcast. Written by the fleet (control thread), read by sessions
// on any worker.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace pgvalve::proxy {

struct CancelPeer {
  std::string instance_id;
  std::string host;
  uint16_t port = 0;
};

class CancelRoutes {
 public:
  // This instance's slot and the other live instances by slot; replaces
  // what was known.
  void Set(int own_slot, std::map<int, CancelPeer> peers);
  // The live instance, other than this one, that minted `virtual_pid`.
  std::optional<CancelPeer> OwnerOf(int32_t virtual_pid) const;

 private:
  mutable std::mutex mutex_;
  int own_slot_ = -1;
  std::map<int, CancelPeer> peers_;
};

}  // namespace pgvalve::proxy
