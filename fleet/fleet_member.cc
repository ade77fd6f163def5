#include "fleet/fleet_member.h"

#include <unistd.h>

#include <algorithm>
#include <array>

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

FleetOptions FleetOptionsFrom(const config::FleetSettings& settings, uint16_t client_port) {
  FleetOptions options;
  for (const std::string& url : settings.etcd_endpoints) {
    if (absl::StatusOr<EtcdEndpoint> endpoint = ParseEtcdEndpoint(url); endpoint.ok()) {
      options.endpoints.push_back(*std::move(endpoint));
    }
  }
  options.key_prefix = settings.key_prefix;
  options.instance_id = settings.instance_id.value_or(HostName() + ":" + std::to_string(client_port));
  options.lease_ttl = settings.lease_ttl;
  return options;
}

FleetMember::FleetMember(proxy::asio::any_io_executor executor, FleetOptions options, Describe describe)
    : options_(std::move(options)),
      describe_(std::move(describe)),
      etcd_(executor, options_.endpoints, CallTimeout(options_.lease_ttl)),
      timer_(executor) {}

FleetMember::~FleetMember() { Stop(); }

void FleetMember::Start() {
  if (stopped_) return;
  stopped_ = std::make_shared<bool>(false);
  proxy::asio::co_spawn(timer_.get_executor(), Keep(stopped_), proxy::asio::detached);
}

void FleetMember::Stop() {
  if (!stopped_ || *stopped_) return;
  *stopped_ = true;
  timer_.cancel();
}

Awaitable<void> FleetMember::Keep(std::shared_ptr<bool> stopped) {
  while (!*stopped) {
    const absl::Status renewed = co_await Renew();
    if (*stopped) co_return;
    if (!renewed.ok() && reachable_) {
      spdlog::warn("fleet: cannot renew instance \"{}\" in etcd: {}; it stays listed until its lease expires",
                   options_.instance_id, proxy::StatusText(renewed));
    } else if (renewed.ok() && !reachable_) {
      spdlog::info("fleet: instance \"{}\" registered in etcd again (lease {})", options_.instance_id, lease_);
    }
    reachable_ = renewed.ok();
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
  std::string key = InstanceKey(options_.key_prefix, options_.instance_id);
  absl::StatusOr<ResponseHeader> put = co_await etcd_.Put(std::move(key), EncodeInstance(describe_()), lease_);
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
