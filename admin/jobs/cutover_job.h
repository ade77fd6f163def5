#pragma once
// CUTOVER: moving a database to another server while its clients keep
// working.
//
//   1. Preflight (changes nothing; DRY RUN stops here): both servers answer
//      through their control connections; PHYSICAL: the target is a
//      standby streaming from the source; LOGICAL: the target is a primary
//      with an enabled subscription to the database whose slot on the
//      source is active. The lag is known. Sessions that cannot move
//      (temporary tables, LISTEN, advisory locks, prepared transactions)
//      and direct backends are listed.
//   2. Lag: waits, holding nothing, until the target is within MAX LAG
//      (LOGICAL: and every table's initial copy is done).
//   3. Hold: PAUSE. New sessions and every session's next request wait at
//      a transaction boundary; after GRACE, sessions still in a transaction
//      are terminated (or cancelled and closed); INCLUDING DIRECT also
//      terminates the source's direct backends on the database.
//   4. Catch up: a marker committed synchronously on the source; the
//      target must have it, and with it every commit before (PHYSICAL:
//      replayed past it; LOGICAL: every subscription's slot confirmed
//      past it, i.e. applied and flushed on the target).
//   5. Promote (PHYSICAL with PROMOTE): pg_promote on the target, until it
//      leaves recovery. Sequences (LOGICAL with SYNC SEQUENCES): each
//      sequence of the target set to continue where the source's is,
//      since logical replication does not carry them.
//   6. Switch and resume: new sessions go to the target; the sessions left
//      on the source are closed at their boundary (57P01), a held request
//      of theirs included; RESUME releases the held new sessions, which
//      now connect to the target.
//
// Any failure before the switch, CANCEL CUTOVER, or TIMEOUT (unless ON
// TIMEOUT PROCEED) rolls back: RESUME on the source, nothing switched.
//
// A job runs on the admin (control) thread; everything here is used from
// that thread only.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "admin/commands/command_context.h"
#include "admin/commands/command_support.h"
#include "admin/jobs/cutover_options.h"
#include "config/config.h"
#include "upstream/replication_queries.h"

namespace pgvalve::upstream {
class ControlConnection;
}

namespace pgvalve::admin {

enum class CutoverStep { kPreflight, kLag, kHold, kCatchUp, kPromote, kSequences, kSwitch, kResume, kDone };
std::string_view CutoverStepName(CutoverStep step);

enum class CutoverOutcome { kRunning, kCompleted, kRolledBack, kPlanned };
std::string_view CutoverOutcomeName(CutoverOutcome outcome);

// One line of the report: a preflight check, a session that cannot move,
// or a step as it ran.
enum class CutoverLineStatus { kOk, kWarning, kFailed };
std::string_view CutoverLineStatusName(CutoverLineStatus status);
struct CutoverLine {
  std::string item;  // "target streams from the source", "step: hold", "client 12", ...
  CutoverLineStatus status = CutoverLineStatus::kOk;
  std::optional<double> seconds;  // for a step: how long it took
  std::string detail;
};

// What clients went through, for the report and SHOW CUTOVERS.
struct CutoverCounts {
  int64_t held_new_sessions = 0;  // released to the target
  int64_t held_requests = 0;      // released, or closed if on the source
  double held_p50_ms = 0;
  double held_p99_ms = 0;
  double held_max_ms = 0;
  double hold_seconds = 0;  // how long the database was paused
  int64_t closed = 0;       // sessions on the source closed at their boundary
  int64_t cancelled = 0;
  int64_t terminated = 0;
  int64_t direct_terminated = 0;
  int64_t sequences_synced = 0;  // LOGICAL with SYNC SEQUENCES
};

class CutoverJob {
 public:
  CutoverJob(uint64_t id, CutoverOptions options, AdminServices& services);

  // Runs the cutover to its end, a NOTICE at each step and each second.
  // OK when the database is on the target (or, DRY RUN, when the preflight
  // passed); otherwise the error of the step that failed, after rollback.
  Awaitable<absl::Status> Run(NoticeChannel& notices);
  // Asks a running cutover to roll back; false once it has switched.
  bool Cancel();

  uint64_t id() const { return id_; }
  const CutoverOptions& options() const { return options_; }
  bool running() const { return outcome_ == CutoverOutcome::kRunning; }
  CutoverStep step() const { return step_; }
  CutoverOutcome outcome() const { return outcome_; }
  const std::string& source() const { return source_name_; }
  std::chrono::system_clock::time_point started_at() const { return started_wall_; }
  double elapsed_seconds() const;
  const std::vector<CutoverLine>& report() const { return lines_; }
  const CutoverCounts& counts() const { return counts_; }
  // The source position the target replayed past (catch up), as text.
  const std::string& lsn() const { return lsn_; }
  // Why it rolled back: the step and the error.
  const std::string& error() const { return error_; }

 private:
  struct Servers;
  Awaitable<absl::Status> Preflight(Servers& servers);
  Awaitable<absl::Status> CheckSourceIsPrimary(Servers& servers);
  // A failed preflight check: its report line, and the error (55000).
  absl::Status PreflightFailure(std::string item, std::string message);
  Awaitable<absl::Status> PreflightPhysical(Servers& servers);
  Awaitable<absl::Status> PreflightLogical(Servers& servers);
  Awaitable<absl::Status> PreflightSequences(Servers& servers);
  Awaitable<void> PreflightSessions(Servers& servers);
  Awaitable<absl::Status> WaitForLag(Servers& servers, NoticeChannel& notices);
  // How far behind the target is; nullopt while (LOGICAL) a table's
  // initial copy runs, `waiting_for` then says which.
  Awaitable<absl::StatusOr<std::optional<uint64_t>>> Lag(Servers& servers, std::string& waiting_for);
  Awaitable<absl::StatusOr<uint64_t>> PhysicalLag(Servers& servers);
  Awaitable<absl::StatusOr<std::optional<uint64_t>>> LogicalLag(Servers& servers, std::string& waiting_for);
  // Where the target is, in the source's WAL: replayed (PHYSICAL), or
  // confirmed by the slowest subscription (LOGICAL).
  Awaitable<absl::StatusOr<std::optional<upstream::Lsn>>> TargetPosition(Servers& servers);
  Awaitable<absl::Status> Hold(Servers& servers, NoticeChannel& notices);
  Awaitable<void> Escalate(Servers& servers);
  Awaitable<void> TerminateDirect(Servers& servers);
  Awaitable<absl::Status> CatchUp(Servers& servers, NoticeChannel& notices);
  Awaitable<absl::Status> Promote(Servers& servers, NoticeChannel& notices);
  Awaitable<absl::Status> SyncSequences(Servers& servers, NoticeChannel& notices);
  void SwitchAndResume();
  // RESUME, with the hold window's figures.
  void ReleaseHeld();
  // Sessions of the database still in a transaction on the source.
  std::vector<std::shared_ptr<proxy::SessionRecord>> Unsettled() const;
  // Backends on the source that are pgvalve's: its sessions' (all
  // databases: a pid is per server) and the job's own connection.
  std::vector<int32_t> OwnBackends(const Servers& servers) const;
  // Sessions of the database still authenticating on the source.
  size_t StillAuthenticating() const;
  // Waits for a change of the database's sessions, a CANCEL, or `until`.
  Awaitable<void> Wait(std::chrono::steady_clock::time_point until);
  // Errors when cancelled or when the hold outlives GRACE + TIMEOUT.
  absl::Status CheckStillGoing(std::string_view waiting_for) const;
  absl::Status ResumedMeanwhile() const;
  Awaitable<absl::Status> RollBack(absl::Status error);
  void BeginStep(CutoverStep step);
  void EndStep(CutoverLineStatus status, std::string detail);
  void Line(std::string item, CutoverLineStatus status, std::string detail);
  Awaitable<bool> Progress(NoticeChannel& notices, std::string text);

  const uint64_t id_;
  const CutoverOptions options_;
  AdminServices& services_;

  CutoverStep step_ = CutoverStep::kPreflight;
  CutoverOutcome outcome_ = CutoverOutcome::kRunning;
  std::string source_name_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::system_clock::time_point started_wall_;
  std::optional<std::chrono::steady_clock::time_point> finished_;
  std::chrono::steady_clock::time_point step_started_;
  std::optional<std::chrono::steady_clock::time_point> hold_started_;
  std::chrono::steady_clock::time_point next_progress_;
  std::vector<CutoverLine> lines_;
  CutoverCounts counts_;
  std::string lsn_;
  std::string error_;
  std::shared_ptr<proxy::DatabaseGate> gate_;
  std::unique_ptr<GateWatcher> watcher_;
  bool paused_by_us_ = false;
  // With a fleet: the other instances whose hold this one waits for.
  std::vector<std::string> fleet_others_;
  bool promoted_ = false;
  bool cancel_requested_ = false;
};

}  // namespace pgvalve::admin
