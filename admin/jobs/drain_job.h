#pragma once
// DRAIN: getting every session off one database, safely and provably.
//
//   1. New sessions are refused at once (DISABLE, reason "draining").
//   2. Each pgvalve session is asked to close at its next transaction
//      boundary: idle ones go now, the others when their transaction ends.
//   3. When GRACE expires, the escalation: THEN CANCEL cancels running
//      statements and closes each session once its request is answered;
//      THEN TERMINATE (the default) calls pg_terminate_backend for what is
//      left, and INCLUDING DIRECT also for backends that did not come
//      through pgvalve. THEN WAIT does nothing and waits for TIMEOUT.
//   4. It is done when the upstream's pg_stat_activity shows no backend on
//      the database (INCLUDING DIRECT) or none of pgvalve's, and fails when
//      TIMEOUT passes first.
//
// A job runs on the admin (control) thread; everything here is used from
// that thread only.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "admin/commands/command_context.h"
#include "admin/commands/command_support.h"
#include "admin/commands/session_filter.h"
#include "proxy/session_record.h"

namespace pgvalve::admin {

enum class DrainEscalation { kTerminate, kCancel, kWait };
std::string_view EscalationName(DrainEscalation escalation);

struct DrainOptions {
  std::string database;
  std::chrono::milliseconds grace{30000};
  DrainEscalation escalation = DrainEscalation::kTerminate;
  // Default: GRACE + 30 s.
  std::optional<std::chrono::milliseconds> timeout;
  bool including_direct = false;
  std::vector<std::string> except_roles;
  // Drains only the sessions (and, with INCLUDING DIRECT, direct backends)
  // matching it when the drain starts; the others are left alone as EXCEPT
  // ROLE's are, though new sessions are still refused.
  SessionFilter filter;
  // This instance's part of a fleet DRAIN another instance runs: that one
  // published the DISABLE, which this one applies from etcd as well.
  bool follows_fleet_drain = false;

  std::chrono::milliseconds EffectiveTimeout() const {
    return timeout.value_or(grace + std::chrono::seconds(30));
  }
};

enum class DrainPhase { kGrace, kEscalated, kDone, kTimedOut, kCancelled, kFailed };
std::string_view PhaseName(DrainPhase phase);

// How one session or backend left the drain (or did not).
enum class DrainOutcome {
  kPending,             // not yet
  kClosedIdle,          // closed by pgvalve while idle
  kClosedAfterCommit,   // closed by pgvalve at its next boundary
  kCancelled,           // its statement cancelled, then closed
  kTerminated,          // pg_terminate_backend
  kClientDisconnected,  // the client left by itself
  kServerClosed,        // the server ended it
  kDisconnected,        // a direct backend that left by itself
  kLeftRunning,         // the drain was cancelled first
  kStillPresent,        // still on the server when the drain ended
};
std::string_view DrainOutcomeName(DrainOutcome outcome);

// One row of the report: a pgvalve session or a direct backend.
struct DrainedBackend {
  std::optional<uint64_t> client_id;  // nullopt for a direct backend
  int32_t backend_pid = 0;
  std::string user;
  std::string application_name;
  std::string upstream;
  std::string state_at_start;
  DrainOutcome outcome = DrainOutcome::kPending;
  std::optional<double> seconds;  // from the start of the drain to the outcome
  std::string note;               // e.g. why a terminate was refused

  // pgvalve sessions only.
  std::shared_ptr<proxy::SessionRecord> record;
  bool cancel_sent = false;
  bool terminate_sent = false;
};

class DrainJob {
 public:
  DrainJob(uint64_t id, DrainOptions options, AdminServices& services);

  // Runs the drain to its end. Progress goes to `notices` once a second.
  // OK when the database is verified empty; otherwise an error whose DETAIL
  // lists what is left.
  Awaitable<absl::Status> Run(NoticeChannel& notices);
  // Stops a running drain; the database stays refused.
  void Cancel();
  // Before Run, on the instance running a fleet DRAIN: the backends of
  // the other instances' sessions, which those drain themselves, are
  // neither taken for direct ones nor waited for. Not `complete` (an
  // instance did not list its own): INCLUDING DIRECT terminates nothing,
  // since any backend not of this instance could be one of its sessions.
  void LeaveToOtherInstances(std::set<int32_t> pids, bool complete);

  uint64_t id() const { return id_; }
  const DrainOptions& options() const { return options_; }
  DrainPhase phase() const { return phase_; }
  bool running() const { return phase_ == DrainPhase::kGrace || phase_ == DrainPhase::kEscalated; }
  std::chrono::system_clock::time_point started_at() const { return started_wall_; }
  std::optional<double> elapsed_seconds() const;
  // Backends not yet gone: pending, or still present at the end.
  size_t BackendsLeft() const;
  const std::vector<DrainedBackend>& report() const { return backends_; }
  // One line: what is left and what happens next.
  std::string ProgressText() const;

 private:
  Awaitable<absl::Status> Start();
  Awaitable<void> AwaitIdleCloses();
  Awaitable<void> Escalate();
  Awaitable<void> TerminateDirect();
  // True when pg_stat_activity confirms nothing drained is left; also
  // records direct backends that appeared.
  Awaitable<bool> Verify();
  void CollectOutcomes();
  absl::Status Failure(std::string_view sqlstate, std::string message) const;
  std::optional<config::UpstreamConfig> RoutedUpstream() const;
  std::set<int32_t> ExemptPids() const;
  bool ExemptSessionStarting() const;
  double SecondsSinceStart() const;

  const uint64_t id_;
  const DrainOptions options_;
  AdminServices& services_;

  DrainPhase phase_ = DrainPhase::kGrace;
  std::chrono::steady_clock::time_point started_;
  std::chrono::system_clock::time_point started_wall_;
  std::optional<std::chrono::steady_clock::time_point> finished_;
  std::vector<DrainedBackend> backends_;
  bool verified_against_server_ = true;
  std::set<int32_t> other_instances_backends_;
  // False when another instance's backends are unknown (see above).
  bool direct_known_ = true;
  std::unique_ptr<GateWatcher> watcher_;
  bool cancel_requested_ = false;
};

}  // namespace pgvalve::admin
