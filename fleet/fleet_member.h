#pragma once
// This instance's membership of the fleet: a key under a lease in etcd
// (InstanceKey), renewed a few times per lease_ttl, so that an instance
// that stops renewing (killed, partitioned) leaves the list once its lease
// expires, without anyone having to notice. The key's value is refreshed
// with each renewal (session count, applied revision). Control thread
// only; it must outlive its coroutines, which the control context's stop
// (before the admin server goes) sees to.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "fleet/etcd_client.h"
#include "fleet/instance_record.h"
#include "proxy/asio.h"

namespace pgvalve::fleet {

struct FleetOptions {
  EtcdAccess etcd;
  std::string key_prefix;
  std::string instance_id;
  std::chrono::milliseconds lease_ttl{10'000};
};

// The options [fleet] asks for (validated already). Without instance_id:
// "HOST:PORT", the host's name and `client_port`. InvalidArgument when
// etcd's TLS files cannot be read.
absl::StatusOr<FleetOptions> FleetOptionsFrom(const config::FleetSettings& settings, uint16_t client_port);

// "HOST:PORT" where the other instances reach this one's client listener:
// [fleet] advertise_address, else the first client listen address (the
// host's name for a wildcard one); "" when it listens on no TCP port.
std::string AdvertisedAddress(const config::Config& config, uint16_t client_port);

class FleetMember {
 public:
  // `describe` gives the record written at each renewal.
  using Describe = std::function<InstanceRecord()>;
  FleetMember(proxy::asio::any_io_executor executor, FleetOptions options, Describe describe);
  ~FleetMember();
  FleetMember(const FleetMember&) = delete;
  FleetMember& operator=(const FleetMember&) = delete;

  // Registers, then keeps the registration alive until Stop.
  void Start();
  // Writes the record again now (it changed: a state revision applied),
  // rather than at the next renewal.
  void Refresh();
  // Stops renewing: the key goes when the lease expires.
  void Stop();
  // Stops, and revokes the lease so that the key goes now: a graceful
  // stop. Blocks for at most the call timeout; for the end of the process,
  // once the control thread no longer runs.
  void Leave();

  // Every live instance, from etcd, in id order.
  proxy::Awaitable<absl::StatusOr<std::vector<InstanceRecord>>> Instances();

  const std::string& id() const { return options_.instance_id; }
  // The last renewal succeeded (true until one fails).
  bool reachable() const { return reachable_; }
  // The lease its keys are under; 0 while it has none.
  int64_t lease() const { return lease_; }
  // The instance slot it holds under its lease; -1 before it has one.
  int slot() const { return slot_; }
  // Called whenever it takes a slot: at the first registration, and again
  // (maybe another) after its lease was lost and granted anew.
  void SetOnSlot(std::function<void(int)> on_slot) { on_slot_ = std::move(on_slot); }

 private:
  proxy::Awaitable<void> Keep(std::shared_ptr<bool> stopped);
  // One renewal: a lease if there is none, the record under it, and the
  // lease's keepalive. An error says what failed.
  proxy::Awaitable<absl::Status> Renew();
  // Reserves an instance slot under the current lease: the one held before
  // if it is still free, else the lowest free one.
  proxy::Awaitable<absl::Status> ClaimSlot();

  FleetOptions options_;
  Describe describe_;
  EtcdClient etcd_;
  proxy::asio::steady_timer timer_;
  int64_t lease_ = 0;
  bool reachable_ = true;
  // A Refresh during a renewal: the next one starts at once.
  bool refresh_pending_ = false;
  int slot_ = -1;
  int64_t slot_lease_ = 0;  // the lease the slot's key is under
  std::function<void(int)> on_slot_;
  // Shared with the running Keep, which outlives a Stop by one wake-up.
  std::shared_ptr<bool> stopped_;
};

}  // namespace pgvalve::fleet
