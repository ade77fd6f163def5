#pragma once
// This instance's part in a fleet: its registration and instance slot
// (FleetMember), one watch on everything under the key prefix that keeps
// the shared admin state (SharedState), the list of instances
// (FleetDirectory) and with it the routes of cancel requests
// (proxy::CancelRoutes) current, and the publication of a local state
// change to the others.
//
// etcd is the truth. The first complete read of it is applied, and a slot
// taken for the virtual pids, before clients are let in (Start's
// `on_current`); after a broken watch the whole state is read again, so a
// partition heals into etcd's state. While etcd cannot be reached the
// instance keeps what it applied last (fail static) and refuses changes
// (CheckWritable). Jobs (DRAIN, CUTOVER) take a lock and are announced to
// the other instances, which report under their own leases. Control
// thread only.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "fleet/etcd_client.h"
#include "fleet/fleet_directory.h"
#include "fleet/fleet_jobs.h"
#include "fleet/fleet_member.h"
#include "fleet/shared_state.h"
#include "proxy/asio.h"
#include "proxy/cancel_key_map.h"
#include "proxy/cancel_routes.h"
#include "proxy/database_registry.h"

namespace pgvalve::fleet {

// What a published change came to.
struct PublishOutcome {
  // False when the local state already was etcd's: nothing was written.
  bool changed = false;
  int64_t revision = 0;
  // Live instances when the wait ended, and those of them that had not
  // applied `revision` by then.
  size_t instances = 0;
  std::vector<InstanceRecord> lagging;
};

struct FleetHealth {
  // The shared state has been applied once: clients may come.
  bool current = false;
  // The watch runs and the last renewal succeeded: changes are accepted.
  bool connected = false;
  int64_t applied_revision = 0;
  std::string problem;  // why not connected, when not
};

class Fleet {
 public:
  // What a fleet member changes in the proxy: its gates, the instance slot
  // of the pids it mints, and where other instances' cancel requests go.
  struct ProxyParts {
    proxy::DatabaseRegistry& databases;
    proxy::CancelKeyMap& cancel_keys;
    proxy::CancelRoutes& cancel_routes;
  };
  Fleet(proxy::asio::any_io_executor executor, FleetOptions options, std::chrono::milliseconds ack_timeout,
        ProxyParts proxy, FleetMember::Describe describe);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // Registers and starts watching; `on_current` runs once, when the first
  // complete read of the shared state has been applied and a slot taken.
  void Start(std::function<void()> on_current);
  // Stops watching and renewing; then Leave revokes the lease (see
  // FleetMember::Leave).
  void Stop();
  void Leave() { member_.Leave(); }

  // OK when a change may be made now; otherwise why not (Unavailable).
  absl::Status CheckWritable() const;
  // Publishes what the local gates hold and etcd does not, then waits up
  // to ack_timeout for every live instance to apply it. When it cannot be
  // published the local gates are put back to etcd's state and the error
  // says why: Unavailable (etcd unreachable) or Aborted (another instance
  // changed the same database meanwhile).
  proxy::Awaitable<absl::StatusOr<PublishOutcome>> Publish();

  // The fleet-wide lock of DRAIN and CUTOVER on `database`, taken under
  // this instance's lease (it goes with the instance). FailedPrecondition
  // naming the holder when another has it.
  proxy::Awaitable<absl::Status> LockJob(const std::string& database, const std::string& job);
  proxy::Awaitable<void> UnlockJob(const std::string& database);

  // A job for the whole fleet, of kind "drain" or "cutover": announced
  // under this instance's lease, every other instance hears of it once
  // (SetOnJob), does its part and reports under its own lease (ReportJob);
  // WaitForJobReports gathers the reports, EndJob clears it all.
  proxy::Awaitable<absl::Status> AnnounceJob(std::string_view kind, const std::string& database,
                                             std::string document);
  // The reports (or lists of backends) of `instances` (by id), once each
  // has written its own or at `deadline`, with those that have by then.
  proxy::Awaitable<std::map<std::string, std::string>> WaitForJobReports(
      std::string_view kind, const std::string& database, std::vector<std::string> instances,
      std::chrono::steady_clock::time_point deadline, JobPart part = JobPart::kReport);
  proxy::Awaitable<void> EndJob(std::string_view kind, const std::string& database);
  proxy::Awaitable<absl::Status> ReportJob(std::string_view kind, const std::string& database,
                                           std::string document, JobPart part = JobPart::kReport);
  // Called once for each job another instance announces.
  using OnJob = std::function<void(std::string_view kind, const std::string& document)>;
  void SetOnJob(OnJob on_job) { on_job_ = std::move(on_job); }
  // Called after the gates took changes from etcd (the state file follows).
  void SetOnStateApplied(std::function<void()> on_applied) { on_state_applied_ = std::move(on_applied); }
  // Called when a switch and a RESUME arrive together from another
  // instance (a CUTOVER's end), before the held requests are released.
  void SetOnCutoverSwitch(SharedState::OnCutoverSwitch on_switch) {
    state_.SetOnCutoverSwitch(std::move(on_switch));
  }

  // Every live instance, read from etcd now (SHOW FLEET).
  proxy::Awaitable<absl::StatusOr<std::vector<InstanceRecord>>> Instances() { return member_.Instances(); }
  const FleetDirectory& directory() const { return directory_; }
  FleetHealth health() const;
  const std::string& id() const { return member_.id(); }

 private:
  proxy::Awaitable<void> Follow(std::shared_ptr<bool> stopped);
  void OnWatchMessage(const WatchMessage& message);
  void Disconnected(const absl::Status& why);
  void UpdateCancelRoutes();
  void MaybeCurrent();
  // A key under JobsPrefix changed (empty value: deleted).
  void JobKeyChanged(const std::string& key, const std::string& value);

  const FleetOptions options_;
  const std::chrono::milliseconds ack_timeout_;
  EtcdClient etcd_;
  EtcdWatch watch_;
  SharedState state_;
  FleetDirectory directory_;
  FleetMember member_;
  proxy::CancelKeyMap& cancel_keys_;
  proxy::CancelRoutes& cancel_routes_;
  proxy::asio::steady_timer retry_timer_;
  std::function<void()> on_current_;
  // Every key under JobsPrefix, as the watch last saw it; the timers of
  // WaitForJobReports calls, which any change wakes; the jobs already
  // handed to on_job_ ("kind/instance/job").
  std::map<std::string, std::string> job_keys_;
  std::vector<std::weak_ptr<proxy::asio::steady_timer>> job_waiters_;
  std::set<std::string> jobs_followed_;
  OnJob on_job_;
  std::function<void()> on_state_applied_;
  bool synced_ = false;  // the shared state was read once
  bool current_ = false;
  bool watching_ = false;
  std::string problem_ = "not yet connected to etcd";
  std::shared_ptr<bool> stopped_;
};

}  // namespace pgvalve::fleet
