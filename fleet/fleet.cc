#include "fleet/fleet.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

#include "proxy/status_text.h"
#include "spdlog/spdlog.h"

namespace pgvalve::fleet {
namespace {

using proxy::Awaitable;

// A state change is one small transaction: it gets what a renewal gets.
std::chrono::milliseconds CallTimeout(std::chrono::milliseconds lease_ttl) {
  return std::max(lease_ttl / 3, std::chrono::milliseconds(500));
}

// After a failed read or a broken watch: soon, but not in a loop that
// floods etcd's log while it restarts.
constexpr std::chrono::milliseconds kRetryDelay{250};

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// "HOST:PORT" or "[V6]:PORT", as AdvertisedAddress writes it.
std::optional<HostPort> SplitHostPort(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view host = address.substr(0, colon);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  const std::string_view digits = address.substr(colon + 1);
  unsigned port = 0;
  const auto parsed = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (parsed.ec != std::errc() || parsed.ptr != digits.data() + digits.size() || port == 0 || port > 65535) {
    return std::nullopt;
  }
  return HostPort{std::string(host), static_cast<uint16_t>(port)};
}

}  // namespace

Fleet::Fleet(proxy::asio::any_io_executor executor, FleetOptions options, std::chrono::milliseconds ack_timeout,
             ProxyParts proxy, FleetMember::Describe describe)
    : options_(std::move(options)),
      ack_timeout_(ack_timeout),
      etcd_(executor, options_.etcd, CallTimeout(options_.lease_ttl)),
      watch_(executor, options_.etcd, CallTimeout(options_.lease_ttl)),
      state_(options_.key_prefix, proxy.databases),
      directory_(options_.key_prefix),
      member_(executor, options_,
              [this, describe = std::move(describe)] {
                InstanceRecord record = describe();
                record.applied_revision = state_.applied_revision();
                return record;
              }),
      cancel_keys_(proxy.cancel_keys),
      cancel_routes_(proxy.cancel_routes),
      retry_timer_(executor) {
  member_.SetOnSlot([this](int slot) {
    cancel_keys_.SetInstanceSlot(slot);
    UpdateCancelRoutes();
    MaybeCurrent();
  });
  directory_.SetOnChange([this] { UpdateCancelRoutes(); });
}

Fleet::~Fleet() { Stop(); }

void Fleet::Start(std::function<void()> on_current) {
  if (stopped_) return;
  on_current_ = std::move(on_current);
  stopped_ = std::make_shared<bool>(false);
  member_.Start();
  proxy::asio::co_spawn(retry_timer_.get_executor(), Follow(stopped_), proxy::asio::detached);
}

void Fleet::Stop() {
  if (!stopped_ || *stopped_) return;
  *stopped_ = true;
  member_.Stop();
  watch_.Stop();
  retry_timer_.cancel();
}

Awaitable<void> Fleet::Follow(std::shared_ptr<bool> stopped) {
  const std::string prefix = options_.key_prefix + "/";
  while (!*stopped) {
    absl::StatusOr<RangeResult> range = co_await etcd_.GetPrefix(prefix);
    if (*stopped) co_return;
    if (range.ok()) {
      std::vector<KeyValue> state_keys;
      std::vector<KeyValue> instance_keys;
      std::map<std::string, std::string> job_keys = std::move(job_keys_);
      job_keys_.clear();
      for (KeyValue& kv : range->kvs) {
        if (kv.key.starts_with(StatePrefix(options_.key_prefix))) {
          state_keys.push_back(std::move(kv));
        } else if (kv.key.starts_with(InstancesPrefix(options_.key_prefix))) {
          instance_keys.push_back(std::move(kv));
        } else if (kv.key.starts_with(JobsPrefix(options_.key_prefix))) {
          JobKeyChanged(kv.key, kv.value);
        }
      }
      // Job keys that went while this instance was not watching.
      for (const auto& [key, value] : job_keys) {
        if (!job_keys_.contains(key)) JobKeyChanged(key, {});
      }
      state_.Reset(state_keys, range->header.revision);
      if (on_state_applied_) on_state_applied_();
      directory_.Reset(instance_keys);
      member_.Refresh();
      if (!watching_) {
        spdlog::info("fleet: shared state applied at revision {} ({} keys); watching etcd for changes",
                     range->header.revision, state_keys.size());
      }
      watching_ = true;
      problem_.clear();
      synced_ = true;
      MaybeCurrent();
      const absl::Status ended = co_await watch_.Run(
          prefix, range->header.revision + 1, [this](const WatchMessage& message) { OnWatchMessage(message); });
      if (*stopped) co_return;
      Disconnected(ended);
    } else {
      Disconnected(range.status());
    }
    retry_timer_.expires_after(kRetryDelay);
    co_await retry_timer_.async_wait(proxy::kUseTuple);
  }
}

void Fleet::MaybeCurrent() {
  if (current_ || !synced_ || member_.slot() < 0) return;
  current_ = true;
  spdlog::info("fleet: instance \"{}\" admits clients (slot {}, state revision {})", id(), member_.slot(),
               state_.applied_revision());
  if (on_current_) on_current_();
}

void Fleet::UpdateCancelRoutes() {
  std::map<int, proxy::CancelPeer> peers;
  for (const InstanceRecord& instance : directory_.Instances()) {
    if (instance.id == id() || instance.slot < 0) continue;
    std::optional<HostPort> address = SplitHostPort(instance.address);
    if (!address) continue;  // it listens on a unix socket only: nobody can send it anything
    peers[instance.slot] = proxy::CancelPeer{instance.id, address->host, address->port};
  }
  cancel_routes_.Set(member_.slot(), std::move(peers));
}

void Fleet::Disconnected(const absl::Status& why) {
  const std::string problem = why.ok() ? "the watch ended" : std::string(proxy::StatusText(why));
  if (watching_ || problem_ != problem) {
    spdlog::warn("fleet: etcd unreachable ({}); keeping the state applied at revision {} until it is back",
                 problem, state_.applied_revision());
  }
  watching_ = false;
  problem_ = problem;
}

void Fleet::OnWatchMessage(const WatchMessage& message) {
  bool state_changed = false;
  const std::string state_prefix = StatePrefix(options_.key_prefix);
  for (const WatchEvent& event : message.events) {
    if (event.kv.key.starts_with(state_prefix)) {
      state_.Apply(event);
      state_changed = true;
    } else if (event.kv.key.starts_with(JobsPrefix(options_.key_prefix))) {
      JobKeyChanged(event.kv.key, event.type == WatchEvent::Type::kPut ? event.kv.value : std::string());
    } else {
      directory_.Apply(event);
    }
  }
  // The watch has sent every change up to its header's revision. Only a
  // change of state is acknowledged at once (in this instance's record);
  // otherwise the number goes out with the next renewal, and writing the
  // record (itself a change) does not call for another write.
  state_.Advance(message.header.revision);
  if (state_changed) {
    member_.Refresh();
    if (on_state_applied_) on_state_applied_();
  }
}

absl::Status Fleet::CheckWritable() const {
  std::string problem = problem_;
  if (problem.empty() && !member_.reachable()) problem = "its lease cannot be renewed";
  if (problem.empty()) return absl::OkStatus();
  return absl::UnavailableError("the fleet's etcd is unreachable (" + problem +
                                "): this instance keeps the state it applied last (revision " +
                                std::to_string(state_.applied_revision()) +
                                ") and refuses changes until etcd is back");
}

Awaitable<absl::StatusOr<PublishOutcome>> Fleet::Publish() {
  std::optional<Txn> txn = state_.ChangesToPublish();
  if (!txn) co_return PublishOutcome{.changed = false, .revision = state_.applied_revision()};
  absl::StatusOr<TxnResult> result = co_await etcd_.Commit(*txn);
  if (result.ok() && !result->succeeded) {
    // Another instance wrote one of these keys since this one read it; if
    // that already made etcd hold what the gates hold here, nothing is lost.
    if (!state_.ChangesToPublish()) {
      co_return PublishOutcome{.changed = false, .revision = state_.applied_revision()};
    }
    state_.Restore();
    co_return absl::AbortedError(
        "another instance changed the same state at the same time; nothing was changed here, retry");
  }
  if (!result.ok()) {
    state_.Restore();
    co_return absl::UnavailableError("the change could not be written to etcd (" +
                                     std::string(proxy::StatusText(result.status())) +
                                     "), so it was taken back on this instance too");
  }
  state_.Published(*txn, result->header.revision);
  const int64_t revision = result->header.revision;
  std::vector<InstanceRecord> lagging =
      co_await directory_.WaitForRevision(revision, std::chrono::steady_clock::now() + ack_timeout_);
  co_return PublishOutcome{.changed = true,
                           .revision = revision,
                           .instances = directory_.Instances().size(),
                           .lagging = std::move(lagging)};
}

FleetHealth Fleet::health() const {
  const absl::Status writable = CheckWritable();
  return {.current = current_,
          .connected = writable.ok(),
          .applied_revision = state_.applied_revision(),
          .problem = writable.ok() ? std::string() : std::string(writable.message())};
}

}  // namespace pgvalve::fleet

namespace pgvalve::fleet {

void Fleet::JobKeyChanged(const std::string& key, const std::string& value) {
  if (value.empty()) {
    job_keys_.erase(key);
  } else {
    job_keys_[key] = value;
  }
  std::erase_if(job_waiters_, [](const std::weak_ptr<proxy::asio::steady_timer>& waiter) {
    std::shared_ptr<proxy::asio::steady_timer> timer = waiter.lock();
    if (timer) timer->cancel();
    return !timer;
  });
  // An announcement is the key of its job itself, not a report under it.
  if (value.empty()) return;
  const std::string_view kind = std::string_view(key).substr(key.rfind('/') + 1);
  if (kind != kDrainJob && kind != kCutoverJob) return;
  absl::StatusOr<JobOrigin> origin = DecodeJobOrigin(value);
  if (!origin.ok() || origin->instance == id()) return;
  if (JobKey(options_.key_prefix, origin->database, kind) != key) return;
  const std::string followed = std::string(kind) + "/" + origin->instance + "/" + std::to_string(origin->job);
  if (!jobs_followed_.insert(followed).second) return;
  if (on_job_) on_job_(kind, value);
}

Awaitable<absl::Status> Fleet::LockJob(const std::string& database, const std::string& job) {
  if (absl::Status writable = CheckWritable(); !writable.ok()) co_return writable;
  const std::string key = JobLockKey(options_.key_prefix, database);
  Txn txn;
  txn.compare.push_back(
      {.key = key, .target = Compare::Target::kCreateRevision, .result = Compare::Result::kEqual, .number = 0});
  txn.success.push_back({.kind = TxnOperation::Kind::kPut,
                         .key = key,
                         .value = EncodeJobLock({.instance = id(), .job = job}),
                         .lease = member_.lease()});
  absl::StatusOr<TxnResult> result = co_await etcd_.Commit(std::move(txn));
  if (!result.ok()) co_return result.status();
  if (result->succeeded) co_return absl::OkStatus();
  absl::StatusOr<RangeResult> holder = co_await etcd_.Get(key);
  std::string who = "another instance";
  if (holder.ok() && !holder->kvs.empty()) {
    if (absl::StatusOr<JobLock> lock = DecodeJobLock(holder->kvs.front().value); lock.ok()) {
      who = "instance " + lock->instance + " (" + lock->job + ")";
    }
  }
  co_return absl::FailedPreconditionError("a DRAIN or CUTOVER of \"" + database + "\" is running on " + who);
}

Awaitable<void> Fleet::UnlockJob(const std::string& database) {
  absl::StatusOr<ResponseHeader> deleted = co_await etcd_.Delete(JobLockKey(options_.key_prefix, database));
  if (!deleted.ok()) {
    spdlog::warn("fleet: the job lock of {} was not released ({}); it goes when this instance's lease does",
                 database, proxy::StatusText(deleted.status()));
  }
}

Awaitable<absl::Status> Fleet::AnnounceJob(std::string_view kind, const std::string& database,
                                           std::string document) {
  absl::StatusOr<ResponseHeader> put =
      co_await etcd_.Put(JobKey(options_.key_prefix, database, kind), std::move(document), member_.lease());
  co_return put.ok() ? absl::OkStatus() : put.status();
}

Awaitable<std::map<std::string, std::string>> Fleet::WaitForJobReports(
    std::string_view kind, const std::string& database, std::vector<std::string> instances,
    std::chrono::steady_clock::time_point deadline, JobPart part) {
  // Copied: the caller's view may not outlive the first suspension.
  const std::string job_kind(kind);
  auto timer = std::make_shared<proxy::asio::steady_timer>(co_await proxy::asio::this_coro::executor);
  while (true) {
    std::map<std::string, std::string> reports;
    for (const std::string& instance : instances) {
      auto found = job_keys_.find(JobReportKey(options_.key_prefix, database, job_kind, instance, part));
      if (found != job_keys_.end()) reports[instance] = found->second;
    }
    if (reports.size() == instances.size() || std::chrono::steady_clock::now() >= deadline) co_return reports;
    timer->expires_at(deadline);
    job_waiters_.push_back(timer);
    co_await timer->async_wait(proxy::kUseTuple);
  }
}

Awaitable<void> Fleet::EndJob(std::string_view kind, const std::string& database) {
  const std::string prefix = JobKeysPrefix(options_.key_prefix, database, kind);
  absl::StatusOr<ResponseHeader> deleted = co_await etcd_.DeletePrefix(prefix);
  if (!deleted.ok()) {
    spdlog::warn("fleet: the keys of {} were not deleted: {}", prefix, proxy::StatusText(deleted.status()));
  }
}

Awaitable<absl::Status> Fleet::ReportJob(std::string_view kind, const std::string& database, std::string document,
                                         JobPart part) {
  const std::string key = JobReportKey(options_.key_prefix, database, kind, id(), part);
  absl::StatusOr<ResponseHeader> put = co_await etcd_.Put(key, std::move(document), member_.lease());
  co_return put.ok() ? absl::OkStatus() : put.status();
}

}  // namespace pgvalve::fleet
