#include "fleet/fleet_member.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <set>

#include "proxy/cancel_key_map.h"
#include "proxy/status_text.h"
#include "spdlog/spdlog.h"

namespace pgvalve::fleet {
namespace {

using proxy::Awaitable;

// An etcd call that takes longer than a third of the lease would let the
// lease lapse while waiting; bounded below so that a short lease still
// leaves a slow etcd time to answer.
std::chrono::milliseconds CallTimeout(std::chrono::milliseconds lease_ttl) {
  return std::max(lease_ttl / 3, std::chrono::milliseconds(500));
}

std::string HostName() {
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) != 0 || name[0] == '\0') return "localhost";
  return std::string(name.data());
}

}  // namespace

absl::StatusOr<FleetOptions> FleetOptionsFrom(const config::FleetSettings& settings, uint16_t client_port) {
  FleetOptions options;
  absl::StatusOr<EtcdAccess> etcd = EtcdAccessFrom(settings);
  if (!etcd.ok()) return etcd.status();
  options.etcd = *std::move(etcd);
  options.key_prefix = settings.key_prefix;
  options.instance_id = settings.instance_id.value_or(HostName() + ":" + std::to_string(client_port));
  options.lease_ttl = settings.lease_ttl;
  return options;
}

std::string AdvertisedAddress(const config::Config& config, uint16_t client_port) {
  if (config.fleet.advertise_address) return *config.fleet.advertise_address;
  if (config.proxy.listen.empty() || client_port == 0) return "";
  std::string host = config.proxy.listen.front().host;
  if (host.empty() || host == "0.0.0.0" || host == "::" || host == "*") host = HostName();
  // An IPv6 literal needs its brackets before the port.
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + std::to_string(client_port);
}

FleetMember::FleetMember(proxy::asio::any_io_executor executor, FleetOptions options, Describe describe)
    : options_(std::move(options)),
      describe_(std::move(describe)),
      etcd_(executor, options_.etcd, CallTimeout(options_.lease_ttl)),
      timer_(executor) {}

FleetMember::~FleetMember() { Stop(); }

void FleetMember::Start() {
  if (stopped_) return;
  stopped_ = std::make_shared<bool>(false);
  proxy::asio::co_spawn(timer_.get_executor(), Keep(stopped_), proxy::asio::detached);
}

void FleetMember::Refresh() {
  refresh_pending_ = true;
  timer_.cancel();
}

void FleetMember::Stop() {
  if (!stopped_ || *stopped_) return;
  *stopped_ = true;
  timer_.cancel();
}

void FleetMember::Leave() {
  Stop();
  if (lease_ == 0) return;
  // The control context no longer runs: a context of its own, for as long
  // as one call may take.
  proxy::asio::io_context context;
  EtcdClient etcd(context.get_executor(), options_.etcd, CallTimeout(options_.lease_ttl));
  proxy::asio::co_spawn(
      context,
      [](EtcdClient& client, int64_t lease, std::string id) -> Awaitable<void> {
        absl::StatusOr<ResponseHeader> revoked = co_await client.RevokeLease(lease);
        if (revoked.ok()) {
          spdlog::info("fleet: instance \"{}\" left the fleet (lease {} revoked)", id, lease);
        } else {
          spdlog::warn("fleet: instance \"{}\" could not revoke its lease: {}; it stays listed until it expires",
                       id, proxy::StatusText(revoked.status()));
        }
      }(etcd, lease_, options_.instance_id),
      proxy::asio::detached);
  context.run_for(CallTimeout(options_.lease_ttl) + std::chrono::milliseconds(100));
  lease_ = 0;
}

Awaitable<void> FleetMember::Keep(std::shared_ptr<bool> stopped) {
  while (!*stopped) {
    refresh_pending_ = false;
    const absl::Status renewed = co_await Renew();
    if (*stopped) co_return;
    if (!renewed.ok() && reachable_) {
      spdlog::warn("fleet: cannot renew instance \"{}\" in etcd: {}; it stays listed until its lease expires",
                   options_.instance_id, proxy::StatusText(renewed));
    } else if (renewed.ok() && !reachable_) {
      spdlog::info("fleet: instance \"{}\" registered in etcd again (lease {})", options_.instance_id, lease_);
    }
    reachable_ = renewed.ok();
    if (refresh_pending_ && renewed.ok()) continue;
    // Three renewals per lease: one lost or slow renewal does not lose it.
    timer_.expires_after(options_.lease_ttl / 3);
    co_await timer_.async_wait(proxy::kUseTuple);
  }
}

Awaitable<absl::Status> FleetMember::Renew() {
  if (lease_ == 0) {
    const auto ttl_seconds = std::chrono::duration_cast<std::chrono::seconds>(options_.lease_ttl).count();
    absl::StatusOr<LeaseGrant> lease = co_await etcd_.GrantLease(ttl_seconds);
    if (!lease.ok()) co_return lease.status();
    lease_ = lease->id;
    spdlog::info("fleet: instance \"{}\" registered in etcd (lease {}, ttl {} s)", options_.instance_id, lease_,
                 lease->ttl_seconds);
  }
  if (slot_lease_ != lease_) {
    if (absl::Status claimed = co_await ClaimSlot(); !claimed.ok()) co_return claimed;
  }
  InstanceRecord record = describe_();
  record.slot = slot_;
  std::string key = InstanceKey(options_.key_prefix, options_.instance_id);
  absl::StatusOr<ResponseHeader> put = co_await etcd_.Put(std::move(key), EncodeInstance(record), lease_);
  if (!put.ok()) {
    // etcd forgot the lease (it expired while etcd was unreachable): a
    // new one on the next round.
    if (put.status().code() == absl::StatusCode::kFailedPrecondition) lease_ = 0;
    co_return put.status();
  }
  absl::StatusOr<int64_t> ttl = co_await etcd_.KeepAlive(lease_);
  if (!ttl.ok()) co_return ttl.status();
  if (*ttl == 0) {
    lease_ = 0;
    co_return absl::FailedPreconditionError("the lease expired");
  }
  co_return absl::OkStatus();
}

Awaitable<absl::Status> FleetMember::ClaimSlot() {
  const std::string prefix = SlotsPrefix(options_.key_prefix);
  absl::StatusOr<RangeResult> range = co_await etcd_.GetPrefix(prefix);
  if (!range.ok()) co_return range.status();
  std::set<int> taken;
  for (const KeyValue& kv : range->kvs) {
    int slot = -1;
    const std::string_view number = std::string_view(kv.key).substr(prefix.size());
    if (std::from_chars(number.data(), number.data() + number.size(), slot).ec == std::errc()) taken.insert(slot);
  }
  // Sessions minted under the old slot keep it: the same slot again means
  // their cancel requests still find this instance.
  std::vector<int> candidates;
  if (slot_ >= 0 && !taken.contains(slot_)) candidates.push_back(slot_);
  for (int slot = 0; slot < proxy::kInstanceSlots; ++slot) {
    if (!taken.contains(slot)) candidates.push_back(slot);
  }
  for (int slot : candidates) {
    Txn txn;
    // Taken only if nobody holds it: a key that does not exist.
    txn.compare.push_back({.key = SlotKey(options_.key_prefix, slot),
                           .target = Compare::Target::kCreateRevision,
                           .result = Compare::Result::kEqual,
                           .number = 0});
    txn.success.push_back({.kind = TxnOperation::Kind::kPut,
                           .key = SlotKey(options_.key_prefix, slot),
                           .value = options_.instance_id,
                           .lease = lease_});
    absl::StatusOr<TxnResult> result = co_await etcd_.Commit(std::move(txn));
    if (!result.ok()) co_return result.status();
    if (!result->succeeded) continue;  // another instance was quicker
    if (slot_ >= 0 && slot != slot_) {
      spdlog::warn("fleet: instance \"{}\" lost slot {} while away and now has slot {}: cancel requests for "
                   "its older sessions that reach another instance are not routed back",
                   options_.instance_id, slot_, slot);
    }
    slot_ = slot;
    slot_lease_ = lease_;
    if (on_slot_) on_slot_(slot);
    co_return absl::OkStatus();
  }
  co_return absl::ResourceExhaustedError("every one of the fleet's " + std::to_string(proxy::kInstanceSlots) +
                                         " instance slots is taken");
}

Awaitable<absl::StatusOr<std::vector<InstanceRecord>>> FleetMember::Instances() {
  absl::StatusOr<RangeResult> range = co_await etcd_.GetPrefix(InstancesPrefix(options_.key_prefix));
  if (!range.ok()) co_return range.status();
  std::vector<InstanceRecord> instances;
  for (const KeyValue& kv : range->kvs) {
    absl::StatusOr<InstanceRecord> record = DecodeInstance(kv.value);
    // Another version's record, or a hand-written key: listed by its key.
    if (!record.ok()) {
      record = InstanceRecord{.id = kv.key.substr(InstancesPrefix(options_.key_prefix).size())};
    }
    instances.push_back(*std::move(record));
  }
  co_return instances;
}

}  // namespace pgvalve::fleet
