#include "admin/jobs/cutover_job.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <map>
#include <tuple>

#include "admin/commands/route_switch.h"
#include "admin/jobs/session_holds.h"
#include "admin/commands/state_commit.h"
#include "admin/jobs/fleet_backends.h"
#include "admin/jobs/fleet_cutover.h"
#include "fleet/fleet.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/cancel_forwarder.h"
#include "proxy/current_route.h"
#include "proxy/log_text.h"
#include "proxy/status_text.h"
#include "upstream/activity_queries.h"
#include "upstream/backend_signals.h"
#include "upstream/control_connections.h"
#include "upstream/logical_replication_queries.h"

namespace pgvalve::admin {

namespace sqlstate = protocol::sqlstate;
using proxy::SessionState;
using std::chrono::steady_clock;

namespace {

constexpr std::chrono::milliseconds kProgressInterval{1000};
// How often the target's replay position and the lag are read: they are
// server-side, nothing to be woken by.
constexpr std::chrono::milliseconds kReplicationPoll{20};
constexpr std::chrono::milliseconds kLagPoll{200};
constexpr std::chrono::milliseconds kCancelTimeout{5000};
constexpr uint32_t kQueryTextLength = 60;

// A control connection of the job's own to `database` itself, where
// subscriptions' table states and sequences are. Not shared: it closes when
// the job ends, so it never counts among the database's backends for a
// later DRAIN or TERMINATE ... INCLUDING DIRECT.
std::shared_ptr<upstream::ControlConnection> DatabaseControl(const proxy::asio::any_io_executor& executor,
                                                             config::UpstreamConfig upstream,
                                                             const std::string& database) {
  upstream.control_dbname = database;
  return std::make_shared<upstream::ControlConnection>(executor, std::move(upstream));
}

double Seconds(steady_clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

double Milliseconds(steady_clock::duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

bool InTransaction(SessionState state) {
  return state == SessionState::kActive || state == SessionState::kIdleInTransaction ||
         state == SessionState::kIdleInFailedTransaction;
}

}  // namespace

std::string_view CutoverStepName(CutoverStep step) {
  switch (step) {
    case CutoverStep::kPreflight: return "preflight";
    case CutoverStep::kLag: return "lag";
    case CutoverStep::kHold: return "hold";
    case CutoverStep::kCatchUp: return "catch up";
    case CutoverStep::kPromote: return "promote";
    case CutoverStep::kSequences: return "sync sequences";
    case CutoverStep::kSwitch: return "switch";
    case CutoverStep::kResume: return "resume";
    case CutoverStep::kDone: return "done";
  }
  return "";
}

std::string_view CutoverOutcomeName(CutoverOutcome outcome) {
  switch (outcome) {
    case CutoverOutcome::kRunning: return "running";
    case CutoverOutcome::kCompleted: return "completed";
    case CutoverOutcome::kRolledBack: return "rolled back";
    case CutoverOutcome::kPlanned: return "dry run";
  }
  return "";
}

std::string_view CutoverLineStatusName(CutoverLineStatus status) {
  switch (status) {
    case CutoverLineStatus::kOk: return "ok";
    case CutoverLineStatus::kWarning: return "warning";
    case CutoverLineStatus::kFailed: return "failed";
  }
  return "";
}

struct CutoverJob::Servers {
  config::UpstreamConfig source;
  config::UpstreamConfig target;
  std::shared_ptr<upstream::ControlConnection> source_control;
  std::shared_ptr<upstream::ControlConnection> target_control;
  // LOGICAL: connections to the moved database itself, where the
  // subscriptions' table states and the sequences are; and the
  // subscriptions that replicate it from the source.
  std::shared_ptr<upstream::ControlConnection> source_database;
  std::shared_ptr<upstream::ControlConnection> target_database;
  std::vector<upstream::Subscription> subscriptions;
};

CutoverJob::CutoverJob(uint64_t id, CutoverOptions options, AdminServices& services)
    : id_(id),
      options_(std::move(options)),
      services_(services),
      started_(steady_clock::now()),
      started_wall_(std::chrono::system_clock::now()),
      step_started_(started_),
      next_progress_(started_ + kProgressInterval) {}

double CutoverJob::elapsed_seconds() const { return Seconds(finished_.value_or(steady_clock::now()) - started_); }

bool CutoverJob::Cancel() {
  if (outcome_ != CutoverOutcome::kRunning || step_ >= CutoverStep::kSwitch) return false;
  cancel_requested_ = true;
  if (watcher_) watcher_->Wake();
  return true;
}

void CutoverJob::BeginStep(CutoverStep step) {
  step_ = step;
  step_started_ = steady_clock::now();
}

void CutoverJob::EndStep(CutoverLineStatus status, std::string detail) {
  lines_.push_back(CutoverLine{.item = fmt::format("step: {}", CutoverStepName(step_)),
                               .status = status,
                               .seconds = Seconds(steady_clock::now() - step_started_),
                               .detail = std::move(detail)});
}

void CutoverJob::Line(std::string item, CutoverLineStatus status, std::string detail) {
  lines_.push_back(CutoverLine{.item = std::move(item), .status = status, .detail = std::move(detail)});
}

Awaitable<bool> CutoverJob::Progress(NoticeChannel& notices, std::string text) {
  const auto now = steady_clock::now();
  if (now < next_progress_) co_return true;
  next_progress_ = now + kProgressInterval;
  co_return co_await notices.Notice(fmt::format("cutover {} of {}: {}", id_, options_.database, text));
}

Awaitable<absl::Status> CutoverJob::Run(NoticeChannel& notices) {
  auto config = services_.config.Current();
  gate_ = services_.databases.Gate(options_.database);
  struct ReleaseGate {
    AdminServices& services;
    std::shared_ptr<proxy::DatabaseGate>& gate;
    ~ReleaseGate() { services.databases.Release(gate); }
  } release_gate{services_, gate_};

  Servers servers;
  absl::StatusOr<const config::UpstreamConfig*> source = proxy::CurrentRoute(*config, *gate_);
  if (source.ok() && *source == nullptr) {
    source = protocol::ErrorWithSqlState(
        sqlstate::kInvalidCatalogName, fmt::format("pgvalve has no route for database \"{}\"", options_.database));
  }
  if (!source.ok()) co_return co_await RollBack(source.status());
  absl::StatusOr<const config::UpstreamConfig*> target = FindUpstream(*config, options_.target);
  if (!target.ok()) co_return co_await RollBack(target.status());
  servers.source = **source;
  servers.target = **target;
  source_name_ = servers.source.name;
  if (servers.source.name == servers.target.name) {
    co_return co_await RollBack(protocol::ErrorWithSqlState(
        sqlstate::kObjectNotInPrerequisiteState,
        fmt::format("database \"{}\" is already on upstream \"{}\"", options_.database, servers.target.name)));
  }
  for (const config::UpstreamConfig* upstream : {&servers.source, &servers.target}) {
    if (!upstream->control_user) {
      co_return co_await RollBack(protocol::ErrorWithSqlState(
          sqlstate::kObjectNotInPrerequisiteState,
          fmt::format("upstream \"{}\" has no control_user: a cutover checks both servers through "
                      "their control connections",
                      upstream->name)));
    }
  }
  servers.source_control = services_.control.For(servers.source);
  servers.target_control = services_.control.For(servers.target);
  const proxy::asio::any_io_executor executor = co_await proxy::asio::this_coro::executor;
  if (options_.mode == CutoverMode::kLogical) {
    servers.source_database = DatabaseControl(executor, servers.source, options_.database);
    servers.target_database = DatabaseControl(executor, servers.target, options_.database);
  }
  watcher_ = std::make_unique<GateWatcher>(executor, gate_);

  co_await notices.Notice(fmt::format("cutover {} of {}: preflight, {} to {}", id_, options_.database,
                                      servers.source.name, servers.target.name));
  if (absl::Status ready = co_await Preflight(servers); !ready.ok()) co_return co_await RollBack(ready);
  if (options_.dry_run) {
    outcome_ = CutoverOutcome::kPlanned;
    finished_ = steady_clock::now();
    co_return absl::OkStatus();
  }
  if (absl::Status lag = co_await WaitForLag(servers, notices); !lag.ok()) co_return co_await RollBack(lag);
  if (absl::Status held = co_await Hold(servers, notices); !held.ok()) co_return co_await RollBack(held);
  if (absl::Status caught_up = co_await CatchUp(servers, notices); !caught_up.ok()) {
    co_return co_await RollBack(caught_up);
  }
  if (options_.promote) {
    if (absl::Status promoted = co_await Promote(servers, notices); !promoted.ok()) {
      co_return co_await RollBack(promoted);
    }
  }
  if (options_.sync_sequences) {
    if (absl::Status synced = co_await SyncSequences(servers, notices); !synced.ok()) {
      co_return co_await RollBack(synced);
    }
  }
  // Writes that went to the source after the marker would be lost on the
  // target: an operator's RESUME meanwhile forbids the switch.
  if (!gate_->paused()) co_return co_await RollBack(ResumedMeanwhile());
  SwitchAndResume();
  for (const upstream::Subscription& subscription : servers.subscriptions) {
    Line(fmt::format("subscription {}", subscription.name), CutoverLineStatus::kOk,
         fmt::format("still enabled on {}: nothing more reaches the source through pgvalve; drop it "
                     "(DROP SUBSCRIPTION) before writing to the source again",
                     servers.target.name));
  }
  StateCommit switched = co_await CommitState(services_);
  if (!switched.error.ok()) {
    // Taken back here as well: the database stays held on the source, where
    // etcd says it is, until an operator acts.
    Line("fleet", CutoverLineStatus::kFailed,
         fmt::format("the switch was not published: {}", proxy::StatusText(switched.error)));
  }
  for (const StateCommit::Note& note : switched.notes) {
    Line("fleet", note.warning ? CutoverLineStatus::kWarning : CutoverLineStatus::kOk, note.message);
  }
  co_await EndFleetCutover(services_, options_.database);
  outcome_ = CutoverOutcome::kCompleted;
  step_ = CutoverStep::kDone;
  finished_ = steady_clock::now();
  spdlog::info(
      "cutover {} of {} completed: {} -> {}, lsn {}, held {} new session(s) and {} request(s) "
      "(p50 {:.1f} ms, max {:.1f} ms), closed {}, terminated {}, cancelled {}",
      id_, proxy::QuoteForLog(options_.database), proxy::QuoteForLog(servers.source.name),
      proxy::QuoteForLog(servers.target.name), lsn_, counts_.held_new_sessions, counts_.held_requests,
      counts_.held_p50_ms, counts_.held_max_ms, counts_.closed, counts_.terminated, counts_.cancelled);
  co_await notices.Notice(fmt::format("cutover {} of {}: done, new sessions go to {}", id_, options_.database,
                                      servers.target.name));
  co_return absl::OkStatus();
}

Awaitable<absl::Status> CutoverJob::Preflight(Servers& servers) {
  BeginStep(CutoverStep::kPreflight);
  // A named array: a range-for over a braced list keeps the list in a
  // temporary across the co_awaits below, which GCC 12 handles badly.
  const std::array<std::tuple<std::string_view, const config::UpstreamConfig*, upstream::ControlConnection*>, 2>
      ends = {{{"source", &servers.source, servers.source_control.get()},
               {"target", &servers.target, servers.target_control.get()}}};
  for (const auto& [role, upstream, control] : ends) {
    if (absl::Status connected = co_await control->EnsureConnected(); !connected.ok()) {
      Line(fmt::format("{} {} reachable", role, upstream->name), CutoverLineStatus::kFailed,
           std::string(proxy::StatusText(connected)));
      co_return connected;
    }
    Line(fmt::format("{} {} reachable", role, upstream->name), CutoverLineStatus::kOk,
         fmt::format("control connection backend pid {}", control->backend_pid()));
  }
  absl::Status replicating = co_await CheckSourceIsPrimary(servers);
  if (replicating.ok()) {
    if (options_.mode == CutoverMode::kLogical) {
      replicating = co_await PreflightLogical(servers);
    } else {
      replicating = co_await PreflightPhysical(servers);
    }
  }
  if (!replicating.ok()) {
    EndStep(CutoverLineStatus::kFailed, std::string(proxy::StatusText(replicating)));
    co_return replicating;
  }
  co_await PreflightSessions(servers);
  EndStep(CutoverLineStatus::kOk, options_.dry_run ? "dry run: nothing changed" : "");
  co_return absl::OkStatus();
}

// Both modes move away from a primary.
Awaitable<absl::Status> CutoverJob::CheckSourceIsPrimary(Servers& servers) {
  absl::StatusOr<bool> recovering = co_await upstream::IsInRecovery(*servers.source_control);
  if (!recovering.ok()) co_return recovering.status();
  if (!*recovering) co_return absl::OkStatus();
  co_return PreflightFailure(
      "source is a primary",
      fmt::format("source \"{}\" is in recovery: it is not the primary", servers.source.name));
}

absl::Status CutoverJob::PreflightFailure(std::string item, std::string message) {
  Line(std::move(item), CutoverLineStatus::kFailed, message);
  return protocol::ErrorWithSqlState(sqlstate::kObjectNotInPrerequisiteState, message);
}

Awaitable<absl::Status> CutoverJob::PreflightPhysical(Servers& servers) {
  absl::StatusOr<bool> target_recovering = co_await upstream::IsInRecovery(*servers.target_control);
  if (!target_recovering.ok()) co_return target_recovering.status();
  if (!*target_recovering) {
    co_return PreflightFailure(
        "target is a standby",
        fmt::format("target \"{}\" is not in recovery: MODE PHYSICAL moves to a streaming standby "
                    "of the source (a primary already: use SWITCH)",
                    servers.target.name));
  }
  if (!options_.promote) {
    co_return PreflightFailure(
        "PROMOTE",
        fmt::format("target \"{}\" is a standby and would refuse every write; add PROMOTE", servers.target.name));
  }
  absl::StatusOr<std::optional<upstream::WalReceiver>> receiver =
      co_await upstream::ReadWalReceiver(*servers.target_control);
  if (!receiver.ok()) co_return receiver.status();
  if (!*receiver || (*receiver)->status != "streaming") {
    co_return PreflightFailure(
        "target streams from the source",
        fmt::format("target \"{}\" is not streaming WAL (wal receiver: {})", servers.target.name,
                    *receiver ? (*receiver)->status : std::string("none")));
  }
  // The receiver names the primary as it reached it (a host name, an
  // address or a socket directory); its port is the comparable part.
  if ((*receiver)->sender_port != servers.source.port) {
    co_return PreflightFailure("target streams from the source",
                               fmt::format("target \"{}\" streams from {}:{}, not from source \"{}\" ({}:{})",
                                           servers.target.name, (*receiver)->sender_host, (*receiver)->sender_port,
                                           servers.source.name, servers.source.host, servers.source.port));
  }
  Line("target streams from the source", CutoverLineStatus::kOk,
       fmt::format("{}:{}, in recovery", (*receiver)->sender_host, (*receiver)->sender_port));
  absl::StatusOr<uint64_t> lag = co_await PhysicalLag(servers);
  if (!lag.ok()) co_return lag.status();
  Line("lag", *lag <= options_.max_lag_bytes ? CutoverLineStatus::kOk : CutoverLineStatus::kWarning,
       fmt::format("{} behind (MAX LAG {})", upstream::FormatBytes(*lag),
                   upstream::FormatBytes(options_.max_lag_bytes)));
  co_return absl::OkStatus();
}

Awaitable<absl::Status> CutoverJob::PreflightLogical(Servers& servers) {
  absl::StatusOr<bool> target_recovering = co_await upstream::IsInRecovery(*servers.target_control);
  if (!target_recovering.ok()) co_return target_recovering.status();
  if (*target_recovering) {
    co_return PreflightFailure(
        "target is a primary",
        fmt::format("target \"{}\" is in recovery: MODE LOGICAL moves to a subscriber, which is a "
                    "primary (to a streaming standby: MODE PHYSICAL PROMOTE)",
                    servers.target.name));
  }
  absl::StatusOr<std::vector<upstream::Subscription>> subscriptions =
      co_await upstream::SubscriptionsOf(*servers.target_control, options_.database);
  if (!subscriptions.ok()) co_return subscriptions.status();
  // A subscription replicates this database from the source when its slot
  // is a logical slot of the database on the source: that links the two
  // servers whatever host name the subscription's conninfo uses.
  for (upstream::Subscription& subscription : *subscriptions) {
    const std::string item = fmt::format("subscription {}", subscription.name);
    if (!subscription.enabled) {
      Line(item, CutoverLineStatus::kWarning, "disabled: not followed");
      continue;
    }
    absl::StatusOr<std::optional<upstream::LogicalSlot>> slot =
        co_await upstream::ReadLogicalSlot(*servers.source_control, subscription.slot);
    if (!slot.ok()) co_return slot.status();
    if (!*slot || (*slot)->database != options_.database) {
      Line(item, CutoverLineStatus::kWarning,
           fmt::format("its slot \"{}\" is not a slot of \"{}\" on source \"{}\": it replicates from "
                       "elsewhere",
                       subscription.slot, options_.database, servers.source.name));
      continue;
    }
    if (!(*slot)->active) {
      co_return PreflightFailure(
          item, fmt::format("subscription \"{}\" on target \"{}\" is enabled but its slot \"{}\" "
                            "on source \"{}\" is not active: it does not stream",
                            subscription.name, servers.target.name, subscription.slot, servers.source.name));
    }
    const std::string confirmed =
        (*slot)->confirmed_flush ? upstream::FormatLsn(*(*slot)->confirmed_flush) : std::string("nothing");
    Line(item, CutoverLineStatus::kOk,
         fmt::format("streams from the source through slot {}, confirmed to {}", subscription.slot, confirmed));
    servers.subscriptions.push_back(std::move(subscription));
  }
  if (servers.subscriptions.empty()) {
    co_return PreflightFailure(
        "target subscribes to the source",
        fmt::format("no enabled subscription on target \"{}\" replicates database \"{}\" from "
                    "source \"{}\" (none has an active slot of it there)",
                    servers.target.name, options_.database, servers.source.name));
  }
  std::string copying;
  absl::StatusOr<std::optional<uint64_t>> lag = co_await LogicalLag(servers, copying);
  if (!lag.ok()) co_return lag.status();
  if (!*lag) {
    Line("lag", CutoverLineStatus::kWarning, copying);
  } else {
    Line("lag", **lag <= options_.max_lag_bytes ? CutoverLineStatus::kOk : CutoverLineStatus::kWarning,
         fmt::format("{} behind (MAX LAG {})", upstream::FormatBytes(**lag),
                     upstream::FormatBytes(options_.max_lag_bytes)));
  }
  co_return co_await PreflightSequences(servers);
}

Awaitable<absl::Status> CutoverJob::PreflightSequences(Servers& servers) {
  // With SYNC SEQUENCES, a sequence that cannot be copied fails the
  // preflight rather than the hold, when clients would already wait.
  const CutoverLineStatus unusable =
      options_.sync_sequences ? CutoverLineStatus::kFailed : CutoverLineStatus::kWarning;
  absl::StatusOr<std::vector<upstream::SequenceState>> sequences =
      co_await upstream::ReadSequences(*servers.source_database);
  if (!sequences.ok()) {
    Line("sequences", unusable, fmt::format("not read on the source: {}", proxy::StatusText(sequences.status())));
    if (options_.sync_sequences) co_return sequences.status();
    co_return absl::OkStatus();
  }
  size_t used = 0;
  size_t unreadable = 0;
  for (const upstream::SequenceState& sequence : *sequences) {
    if (!sequence.readable) {
      ++unreadable;
      Line(fmt::format("sequence {}.{}", sequence.schema, sequence.name), unusable,
           "the source's control user may not read it");
    } else if (sequence.last_value) {
      ++used;
    }
  }
  if (unreadable > 0 && options_.sync_sequences) {
    co_return protocol::ErrorWithSqlState(
        sqlstate::kInsufficientPrivilege,
        fmt::format("SYNC SEQUENCES cannot read {} sequence(s) of \"{}\" on source \"{}\" as its control user",
                    unreadable, options_.database, servers.source.name));
  }
  if (used == 0) co_return absl::OkStatus();
  if (options_.sync_sequences) {
    Line("sequences", CutoverLineStatus::kOk,
         fmt::format("{} in use on the source, copied to the target during the hold (SYNC SEQUENCES)", used));
  } else {
    Line("sequences", CutoverLineStatus::kWarning,
         fmt::format("{} in use on the source; logical replication does not carry them, so inserts on the "
                     "target may reuse replicated ids: add SYNC SEQUENCES",
                     used));
  }
  co_return absl::OkStatus();
}

Awaitable<void> CutoverJob::PreflightSessions(Servers& servers) {
  std::vector<std::shared_ptr<proxy::SessionRecord>> sessions =
      SessionsOf(services_.sessions, options_.database);
  std::map<uint64_t, SessionHolds> holds = co_await ProbeSessionHolds(sessions);
  absl::StatusOr<std::map<int32_t, int64_t>> locks =
      co_await upstream::AdvisoryLocksHeld(*servers.source_control, options_.database);
  for (const auto& session : sessions) {
    std::vector<std::string> pinned;
    if (auto held = holds.find(session->id()); held != holds.end()) {
      if (held->second.temp_tables) pinned.push_back("temporary tables: " + *held->second.temp_tables);
      if (held->second.listening) pinned.push_back("LISTEN: " + *held->second.listening);
    }
    if (locks.ok()) {
      if (auto lock = locks->find(session->backend_pid()); lock != locks->end()) {
        pinned.push_back(fmt::format("advisory locks: {}", lock->second));
      }
    }
    if (pinned.empty()) continue;
    std::string detail;
    for (const auto& what : pinned) detail += (detail.empty() ? "" : "; ") + what;
    Line(fmt::format("client {} (backend pid {})", session->id(), session->backend_pid()),
         CutoverLineStatus::kWarning, detail + "; lost when the session is moved");
  }
  // Read now, not before the probes: sessions that authenticated meanwhile
  // have backends of their own, which must not be taken for direct ones.
  // Counted first: a session still authenticating now may have finished
  // by the time pg_stat_activity answers, and its backend is in the answer.
  const size_t starting_before = StillAuthenticating();
  const std::vector<int32_t> pgvalve_pids = OwnBackends(servers);
  absl::StatusOr<std::vector<upstream::PreparedTransaction>> prepared =
      co_await upstream::PreparedTransactions(*servers.source_control, options_.database);
  if (prepared.ok()) {
    for (const upstream::PreparedTransaction& transaction : *prepared) {
      Line(fmt::format("prepared transaction '{}'", transaction.gid), CutoverLineStatus::kWarning,
           fmt::format("owner {}, prepared at {}: it stays on the source", transaction.owner,
                       transaction.prepared));
    }
  }
  absl::StatusOr<std::vector<upstream::ClientBackendRow>> direct = co_await upstream::FindDirectClientBackends(
      *servers.source_control, options_.database, pgvalve_pids,
      [](std::string&, std::vector<std::optional<std::string>>&) { return true; }, kQueryTextLength);
  // A pgvalve session still authenticating has a backend whose pid it does
  // not know yet: pg_stat_activity cannot tell it from a direct one. One
  // that finished while the query ran has its pid now and is left out.
  const std::vector<int32_t> pgvalve_pids_now = OwnBackends(servers);
  const size_t starting = std::max(starting_before, StillAuthenticating());
  // No conditional expression of strings: a coroutine (GCC 12).
  std::string maybe_ours;
  if (starting != 0) {
    maybe_ours = fmt::format("; or one of the {} pgvalve session(s) still authenticating, which "
                             "pg_stat_activity cannot tell apart",
                             starting);
  }
  if (services_.fleet != nullptr && services_.fleet->directory().Instances().size() > 1) {
    maybe_ours += "; or a session of another instance of the fleet, which the hold tells apart";
  }
  if (direct.ok()) {
    for (const upstream::ClientBackendRow& row : *direct) {
      if (std::find(pgvalve_pids_now.begin(), pgvalve_pids_now.end(), row.pid) != pgvalve_pids_now.end()) continue;
      Line(fmt::format("direct backend pid {}", row.pid), CutoverLineStatus::kWarning,
           options_.including_direct
               ? fmt::format("user {}, {}: terminated when the hold begins (INCLUDING DIRECT){}", row.user,
                             row.state, maybe_ours)
               : fmt::format("user {}, {}: not through pgvalve, its writes may bypass the cutover; add "
                             "INCLUDING DIRECT to terminate it{}",
                             row.user, row.state, maybe_ours));
    }
  }
}

Awaitable<absl::StatusOr<std::optional<uint64_t>>> CutoverJob::Lag(Servers& servers, std::string& waiting_for) {
  if (options_.mode == CutoverMode::kLogical) co_return co_await LogicalLag(servers, waiting_for);
  absl::StatusOr<uint64_t> lag = co_await PhysicalLag(servers);
  if (!lag.ok()) co_return lag.status();
  co_return std::optional<uint64_t>(*lag);
}

Awaitable<absl::StatusOr<uint64_t>> CutoverJob::PhysicalLag(Servers& servers) {
  absl::StatusOr<upstream::Lsn> current = co_await upstream::CurrentWalLsn(*servers.source_control);
  if (!current.ok()) co_return current.status();
  absl::StatusOr<std::optional<upstream::Lsn>> replayed = co_await upstream::ReplayLsn(*servers.target_control);
  if (!replayed.ok()) co_return replayed.status();
  if (!*replayed) co_return *current;
  co_return **replayed >= *current ? 0 : *current - **replayed;
}

Awaitable<absl::StatusOr<std::optional<uint64_t>>> CutoverJob::LogicalLag(Servers& servers,
                                                                         std::string& waiting_for) {
  // A table still in its initial copy has rows the slot's position does
  // not account for: no lag is meaningful until every copy is done.
  std::vector<std::string> copying;
  for (const upstream::Subscription& subscription : servers.subscriptions) {
    absl::StatusOr<std::vector<std::string>> tables =
        co_await upstream::TablesNotReady(*servers.target_database, subscription.name);
    if (!tables.ok()) co_return tables.status();
    copying.insert(copying.end(), tables->begin(), tables->end());
  }
  if (!copying.empty()) {
    waiting_for = fmt::format("{} table(s) still in their initial copy: {}", copying.size(),
                              fmt::join(copying.begin(), copying.begin() + std::min<size_t>(copying.size(), 5),
                                        ", "));
    co_return std::optional<uint64_t>();
  }
  absl::StatusOr<upstream::Lsn> current = co_await upstream::CurrentWalLsn(*servers.source_control);
  if (!current.ok()) co_return current.status();
  absl::StatusOr<std::optional<upstream::Lsn>> confirmed = co_await TargetPosition(servers);
  if (!confirmed.ok()) co_return confirmed.status();
  if (!*confirmed) co_return std::optional<uint64_t>(*current);
  co_return std::optional<uint64_t>(**confirmed >= *current ? 0 : *current - **confirmed);
}

Awaitable<absl::StatusOr<std::optional<upstream::Lsn>>> CutoverJob::TargetPosition(Servers& servers) {
  if (options_.mode == CutoverMode::kPhysical) co_return co_await upstream::ReplayLsn(*servers.target_control);
  std::optional<upstream::Lsn> slowest;
  for (const upstream::Subscription& subscription : servers.subscriptions) {
    absl::StatusOr<std::optional<upstream::LogicalSlot>> slot =
        co_await upstream::ReadLogicalSlot(*servers.source_control, subscription.slot);
    if (!slot.ok()) co_return slot.status();
    if (!*slot) {
      co_return protocol::ErrorWithSqlState(
          sqlstate::kObjectNotInPrerequisiteState,
          fmt::format("slot \"{}\" of subscription \"{}\" is gone from source \"{}\"", subscription.slot,
                      subscription.name, source_name_));
    }
    if (!(*slot)->confirmed_flush) co_return std::optional<upstream::Lsn>();
    if (!slowest || *(*slot)->confirmed_flush < *slowest) slowest = (*slot)->confirmed_flush;
  }
  co_return slowest;
}

Awaitable<absl::Status> CutoverJob::WaitForLag(Servers& servers, NoticeChannel& notices) {
  BeginStep(CutoverStep::kLag);
  const auto give_up = started_ + options_.timeout;
  while (true) {
    std::string waiting_for;
    absl::StatusOr<std::optional<uint64_t>> lag = co_await Lag(servers, waiting_for);
    if (!lag.ok()) co_return lag.status();
    if (*lag && **lag <= options_.max_lag_bytes) {
      EndStep(CutoverLineStatus::kOk, fmt::format("{} behind", upstream::FormatBytes(**lag)));
      co_return absl::OkStatus();
    }
    if (*lag) {
      waiting_for = fmt::format("the target's lag ({}) to fall under MAX LAG", upstream::FormatBytes(**lag));
    }
    if (cancel_requested_) {
      co_return protocol::ErrorWithSqlState(sqlstate::kQueryCanceled,
                                            fmt::format("cutover {} cancelled (CANCEL CUTOVER)", id_));
    }
    if (steady_clock::now() >= give_up) {
      const std::string message =
          *lag ? fmt::format("target still {} behind after TIMEOUT; nothing was held", upstream::FormatBytes(**lag))
               : fmt::format("still waiting after TIMEOUT for {}; nothing was held", waiting_for);
      EndStep(CutoverLineStatus::kFailed, message);
      co_return protocol::ErrorWithSqlState(sqlstate::kQueryCanceled, message);
    }
    co_await Progress(notices, fmt::format("waiting for {}", waiting_for));
    co_await Wait(std::min(give_up, steady_clock::now() + kLagPoll));
  }
}

std::vector<int32_t> CutoverJob::OwnBackends(const Servers& servers) const {
  std::vector<int32_t> pids;
  for (const auto& session : services_.sessions.All()) {
    if (session->backend_pid() != 0) pids.push_back(session->backend_pid());
  }
  // The source's control connection excludes itself; this one is another
  // backend on the moved database.
  if (servers.source_database && servers.source_database->backend_pid() != 0) {
    pids.push_back(servers.source_database->backend_pid());
  }
  return pids;
}

std::vector<std::shared_ptr<proxy::SessionRecord>> CutoverJob::Unsettled() const {
  std::vector<std::shared_ptr<proxy::SessionRecord>> unsettled;
  for (auto& session : SessionsOf(services_.sessions, options_.database)) {
    if (InTransaction(session->state()) && session->upstream() != options_.target) {
      unsettled.push_back(std::move(session));
    }
  }
  return unsettled;
}

size_t CutoverJob::StillAuthenticating() const {
  size_t starting = 0;
  for (const auto& session : SessionsOf(services_.sessions, options_.database)) {
    if (session->backend_pid() == 0 && session->state() == SessionState::kStarting) ++starting;
  }
  return starting;
}

Awaitable<void> CutoverJob::Wait(steady_clock::time_point until) {
  if (cancel_requested_) co_return;
  co_await watcher_->WaitUntil(until);
}

absl::Status CutoverJob::CheckStillGoing(std::string_view waiting_for) const {
  if (cancel_requested_) {
    return protocol::ErrorWithSqlState(sqlstate::kQueryCanceled,
                                       fmt::format("cutover {} cancelled (CANCEL CUTOVER)", id_));
  }
  if (paused_by_us_ && !gate_->paused()) return ResumedMeanwhile();
  if (hold_started_ && steady_clock::now() >= *hold_started_ + options_.grace + options_.timeout) {
    return protocol::ErrorWithSqlState(
        sqlstate::kQueryCanceled,
        fmt::format("{} did not happen within GRACE + TIMEOUT ({} ms)", waiting_for,
                    (options_.grace + options_.timeout).count()));
  }
  return absl::OkStatus();
}

absl::Status CutoverJob::ResumedMeanwhile() const {
  return protocol::ErrorWithSqlState(
      sqlstate::kObjectNotInPrerequisiteState,
      fmt::format("database \"{}\" was resumed while the cutover held it: writes may have reached the "
                  "source after the catch-up point",
                  options_.database));
}

Awaitable<absl::Status> CutoverJob::Hold(Servers& servers, NoticeChannel& notices) {
  BeginStep(CutoverStep::kHold);
  hold_started_ = steady_clock::now();
  gate_->Pause(proxy::StateOrigin::kAdminCommand);
  paused_by_us_ = true;
  // With a fleet, every instance holds before this one waits for its own.
  StateCommit paused = co_await CommitState(services_);
  if (!paused.error.ok()) co_return paused.error;
  for (StateCommit::Note& note : paused.notes) {
    co_await notices.Notice(std::move(note.message), std::move(note.detail));
  }
  // Every other instance now holds too; each brings its own sessions to a
  // boundary and says so before anything is switched.
  fleet::FleetCutover announcement{.database = options_.database,
                                   .job = id_,
                                   .grace_ms = options_.grace.count(),
                                   .timeout_ms = options_.timeout.count(),
                                   .target = options_.target,
                                   .escalation = std::string(CutoverEscalationName(options_.escalation))};
  if (services_.fleet != nullptr) announcement.instance = services_.fleet->id();
  absl::Status announced = co_await AnnounceFleetHold(services_, announcement, fleet_others_);
  if (!announced.ok()) co_return announced;
  co_await notices.Notice(fmt::format("cutover {} of {}: holding new sessions and requests", id_,
                                      options_.database));
  const auto grace_ends = *hold_started_ + options_.grace;
  if (options_.including_direct) {
    // A pgvalve session still authenticating has a backend whose pid it
    // does not know yet; it would be taken for a direct one. New sessions
    // are held before they connect now, so these finish soon.
    while (StillAuthenticating() > 0 && steady_clock::now() < grace_ends && !cancel_requested_) {
      co_await Wait(std::min(grace_ends, steady_clock::now() + kReplicationPoll));
    }
    co_await TerminateDirect(servers);
  }
  bool escalated = false;
  while (true) {
    std::vector<std::shared_ptr<proxy::SessionRecord>> unsettled = Unsettled();
    if (unsettled.empty()) break;
    if (absl::Status going = CheckStillGoing("every session at a transaction boundary"); !going.ok()) {
      if (!cancel_requested_ && options_.proceed_on_timeout) {
        EndStep(CutoverLineStatus::kWarning,
                fmt::format("{} session(s) still in a transaction; proceeding (ON TIMEOUT PROCEED), they "
                            "are closed at their boundary",
                            unsettled.size()));
        co_return absl::OkStatus();
      }
      EndStep(CutoverLineStatus::kFailed, std::string(proxy::StatusText(going)));
      co_return going;
    }
    if (!escalated && steady_clock::now() >= grace_ends) {
      escalated = true;
      co_await Escalate(servers);
      continue;
    }
    const std::string_view escalation = escalated ? " (escalated)" : "";
    co_await Progress(notices, fmt::format("waiting for {} session(s) to leave their transaction{}",
                                           unsettled.size(), escalation));
    const auto next_look = escalated ? *hold_started_ + options_.grace + options_.timeout : grace_ends;
    co_await Wait(std::min(next_look, steady_clock::now() + kProgressInterval));
  }
  // The others escalate when this one does; then their reports come.
  const auto ack_timeout = services_.config.Current()->fleet.ack_timeout;
  absl::Status fleet_held = co_await WaitForFleetHold(
      services_, notices, options_.database, fleet_others_,
      std::max(steady_clock::now(), *hold_started_ + options_.grace) + 2 * ack_timeout + std::chrono::seconds(3));
  if (!fleet_held.ok()) {
    EndStep(CutoverLineStatus::kFailed, std::string(proxy::StatusText(fleet_held)));
    co_return fleet_held;
  }
  EndStep(CutoverLineStatus::kOk,
          fmt::format("every session at a transaction boundary{}",
                      escalated ? fmt::format(" after GRACE: {} terminated, {} cancelled", counts_.terminated,
                                              counts_.cancelled)
                                : ""));
  co_return absl::OkStatus();
}

Awaitable<void> CutoverJob::Escalate(Servers& servers) {
  const std::string message = fmt::format(
      "terminating connection: database \"{}\" is being moved to another server (cutover {})",
      options_.database, id_);
  std::vector<int32_t> pids;
  for (const auto& session : Unsettled()) {
    if (options_.escalation == CutoverEscalation::kCancel) {
      if (session->state() == SessionState::kActive) {
        if (std::optional<proxy::BackendKey> key = session->backend()) {
          if (absl::Status sent = co_await proxy::ForwardCancelRequest(*key, kCancelTimeout); !sent.ok()) {
            Line(fmt::format("client {}", session->id()), CutoverLineStatus::kWarning,
                 fmt::format("cancel request failed: {}", proxy::StatusText(sent)));
          }
        }
      }
      // Once the cancelled request is answered, even inside a transaction,
      // which the server then rolls back.
      if (auto control = session->control()) {
        control->Close(proxy::CloseWhen::kRequestBoundary, std::string(sqlstate::kAdminShutdown), message);
      }
      ++counts_.cancelled;
    } else if (session->backend_pid() != 0) {
      pids.push_back(session->backend_pid());
    }
  }
  if (pids.empty()) co_return;
  std::vector<upstream::TerminateOutcome> outcomes =
      co_await upstream::TerminateBackends(*servers.source_control, pids);
  for (const upstream::TerminateOutcome& outcome : outcomes) {
    if (outcome.signalled) {
      ++counts_.terminated;
    } else {
      Line(fmt::format("backend pid {}", outcome.pid), CutoverLineStatus::kWarning, outcome.result);
    }
  }
}

Awaitable<void> CutoverJob::TerminateDirect(Servers& servers) {
  std::vector<int32_t> pgvalve_pids = OwnBackends(servers);
  // The other instances' sessions are not direct: each holds its own, with
  // its GRACE. An instance that did not list them leaves every backend in
  // doubt, and then none is terminated.
  FleetBackendLists others =
      co_await GatherFleetBackends(services_, fleet::kCutoverJob, options_.database, fleet_others_);
  if (!others.missing.empty()) {
    std::string instances;
    for (const std::string& instance : others.missing) instances += (instances.empty() ? "" : ", ") + instance;
    Line("direct backends", CutoverLineStatus::kWarning,
         fmt::format("none terminated: instance(s) {} did not list their backends, which any could be",
                     instances));
    co_return;
  }
  pgvalve_pids.insert(pgvalve_pids.end(), others.pids.begin(), others.pids.end());
  absl::StatusOr<std::vector<upstream::ClientBackendRow>> direct = co_await upstream::FindDirectClientBackends(
      *servers.source_control, options_.database, pgvalve_pids,
      [](std::string&, std::vector<std::optional<std::string>>&) { return true; }, kQueryTextLength);
  if (!direct.ok()) {
    Line("direct backends", CutoverLineStatus::kWarning,
         fmt::format("not read: {}", proxy::StatusText(direct.status())));
    co_return;
  }
  std::vector<int32_t> pids;
  for (const upstream::ClientBackendRow& row : *direct) pids.push_back(row.pid);
  if (pids.empty()) co_return;
  std::vector<upstream::TerminateOutcome> outcomes =
      co_await upstream::TerminateBackends(*servers.source_control, pids);
  for (const upstream::TerminateOutcome& outcome : outcomes) {
    if (outcome.signalled) {
      ++counts_.direct_terminated;
    } else {
      Line(fmt::format("direct backend pid {}", outcome.pid), CutoverLineStatus::kWarning, outcome.result);
    }
  }
}

Awaitable<absl::Status> CutoverJob::CatchUp(Servers& servers, NoticeChannel& notices) {
  BeginStep(CutoverStep::kCatchUp);
  // Every commit made through pgvalve precedes this marker in the source's
  // WAL. Committed synchronously, so it is flushed and streamed even where
  // the source runs with synchronous_commit off: pg_current_wal_lsn() alone
  // could name WAL that is written but not yet sent. LOGICAL writes it in
  // the moved database, whose slots decode it like any transaction there.
  upstream::ControlConnection& marker_control =
      options_.mode == CutoverMode::kLogical ? *servers.source_database : *servers.source_control;
  absl::StatusOr<upstream::QueryResult> synchronous =
      co_await marker_control.Query("SET synchronous_commit = on", {});
  if (!synchronous.ok()) co_return synchronous.status();
  absl::StatusOr<upstream::Lsn> marker =
      co_await upstream::EmitMarker(marker_control, fmt::format("cutover {} of {}", id_, options_.database));
  if (!marker.ok()) {
    EndStep(CutoverLineStatus::kFailed, std::string(proxy::StatusText(marker.status())));
    co_return marker.status();
  }
  lsn_ = upstream::FormatLsn(*marker);
  // PHYSICAL: replayed past the marker. LOGICAL: every subscription
  // confirmed past it, which its apply worker does once the commits before
  // it are applied and flushed on the target.
  const std::string_view has = options_.mode == CutoverMode::kLogical ? "confirm" : "replay";
  while (true) {
    absl::StatusOr<std::optional<upstream::Lsn>> replayed = co_await TargetPosition(servers);
    if (!replayed.ok()) {
      EndStep(CutoverLineStatus::kFailed, std::string(proxy::StatusText(replayed.status())));
      co_return replayed.status();
    }
    if (*replayed && **replayed > *marker) break;
    if (absl::Status going = CheckStillGoing(fmt::format("the target's {} past {}", has, lsn_)); !going.ok()) {
      if (!cancel_requested_ && options_.proceed_on_timeout) {
        EndStep(CutoverLineStatus::kWarning,
                fmt::format("target {}ed only to {}; proceeding (ON TIMEOUT PROCEED)", has,
                            *replayed ? upstream::FormatLsn(**replayed) : "nothing"));
        co_return absl::OkStatus();
      }
      EndStep(CutoverLineStatus::kFailed, std::string(proxy::StatusText(going)));
      co_return going;
    }
    // Built before the co_await: GCC 12 destroys a temporary of a ?:
    // inside a co_await expression twice.
    const std::string at = *replayed ? upstream::FormatLsn(**replayed) : "nothing";
    co_await Progress(notices, fmt::format("waiting for the target to {} past {} (at {})", has, lsn_, at));
    co_await Wait(steady_clock::now() + kReplicationPoll);
  }
  EndStep(CutoverLineStatus::kOk, fmt::format("target {}ed past {}", has, lsn_));
  co_return absl::OkStatus();
}

Awaitable<absl::Status> CutoverJob::Promote(Servers& servers, NoticeChannel& notices) {
  if (absl::Status going = CheckStillGoing("promotion"); !going.ok()) co_return going;
  BeginStep(CutoverStep::kPromote);
  co_await notices.Notice(fmt::format("cutover {} of {}: promoting {}", id_, options_.database,
                                      servers.target.name));
  const auto deadline = *hold_started_ + options_.grace + options_.timeout;
  const int wait_seconds = std::max<int>(
      1, static_cast<int>(std::chrono::ceil<std::chrono::seconds>(deadline - steady_clock::now()).count()));
  absl::StatusOr<bool> promoted = co_await upstream::Promote(*servers.target_control, wait_seconds);
  if (promoted.ok() && !*promoted) {
    promoted = protocol::ErrorWithSqlState(
        sqlstate::kQueryCanceled,
        fmt::format("target \"{}\" did not leave recovery within {} s; it may still do so and then no "
                    "longer follow the source",
                    servers.target.name, wait_seconds));
  }
  if (promoted.ok()) {
    absl::StatusOr<bool> recovering = co_await upstream::IsInRecovery(*servers.target_control);
    if (!recovering.ok()) {
      promoted = recovering.status();
    } else if (*recovering) {
      promoted = protocol::ErrorWithSqlState(sqlstate::kObjectNotInPrerequisiteState,
                                             fmt::format("target \"{}\" is still in recovery after pg_promote",
                                                         servers.target.name));
    }
  }
  if (!promoted.ok()) {
    EndStep(CutoverLineStatus::kFailed, std::string(proxy::StatusText(promoted.status())));
    co_return promoted.status();
  }
  promoted_ = true;
  EndStep(CutoverLineStatus::kOk, fmt::format("{} is a primary", servers.target.name));
  co_return absl::OkStatus();
}

Awaitable<absl::Status> CutoverJob::SyncSequences(Servers& servers, NoticeChannel& notices) {
  if (absl::Status going = CheckStillGoing("copying the sequences"); !going.ok()) co_return going;
  BeginStep(CutoverStep::kSequences);
  co_await notices.Notice(fmt::format("cutover {} of {}: copying sequences to {}", id_, options_.database,
                                      servers.target.name));
  // Read during the hold, after the catch up: no session through pgvalve
  // can take another value on the source before the switch.
  absl::StatusOr<std::vector<upstream::SequenceState>> sequences =
      co_await upstream::ReadSequences(*servers.source_database);
  if (!sequences.ok()) {
    EndStep(CutoverLineStatus::kFailed, std::string(proxy::StatusText(sequences.status())));
    co_return sequences.status();
  }
  int64_t never_used = 0;
  for (const upstream::SequenceState& sequence : *sequences) {
    const std::string name = fmt::format("{}.{}", sequence.schema, sequence.name);
    absl::Status copied;
    if (!sequence.readable) {
      copied = protocol::ErrorWithSqlState(
          sqlstate::kInsufficientPrivilege,
          fmt::format("sequence {} is not readable by source \"{}\"'s control user", name, source_name_));
    } else if (!sequence.last_value) {
      ++never_used;
      continue;
    } else {
      copied = co_await upstream::CopySequence(*servers.target_database, sequence);
    }
    if (!copied.ok()) {
      const std::string message =
          fmt::format("sequence {} not copied to \"{}\": {}", name, options_.target, proxy::StatusText(copied));
      EndStep(CutoverLineStatus::kFailed, message);
      co_return protocol::ErrorWithSqlState(protocol::SqlStateOf(copied), message);
    }
    ++counts_.sequences_synced;
  }
  const std::string untouched =
      never_used == 0 ? std::string() : fmt::format("; {} never used, left as they are", never_used);
  EndStep(CutoverLineStatus::kOk, fmt::format("{} sequence(s) on {} continue after the source's last value{}",
                                              counts_.sequences_synced, options_.target, untouched));
  co_return absl::OkStatus();
}

void CutoverJob::SwitchAndResume() {
  // No suspension from here to RESUME: nothing can interleave between the
  // switch, the closes and the release.
  BeginStep(CutoverStep::kSwitch);
  gate_->SwitchRoute(proxy::RouteSwitch{.upstream = options_.target,
                                        .at = std::chrono::system_clock::now(),
                                        .by = fmt::format("cutover {}", id_),
                                        .origin = proxy::StateOrigin::kAdminCommand});
  const std::string message = fmt::format(
      "terminating connection: database \"{}\" moved to another server (cutover {}); reconnect",
      options_.database, id_);
  for (const auto& session : SessionsOf(services_.sessions, options_.database)) {
    if (session->upstream() == options_.target) continue;
    // Held before it connected anywhere: released below, to the target.
    if (session->state() == SessionState::kHeld && session->backend_pid() == 0) continue;
    if (auto control = session->control()) {
      // Posted before the release below reaches the session's executor, so
      // a held request of this session gets the FATAL, not the old server.
      control->Close(proxy::CloseWhen::kTransactionBoundary, std::string(sqlstate::kAdminShutdown), message);
      ++counts_.closed;
    }
  }
  EndStep(CutoverLineStatus::kOk, fmt::format("new sessions go to {}; {} session(s) on {} closed at their boundary",
                                              options_.target, counts_.closed, source_name_));
  BeginStep(CutoverStep::kResume);
  ReleaseHeld();
  EndStep(CutoverLineStatus::kOk,
          fmt::format("released {} new session(s) and {} request(s); held p50 {:.1f} ms, p99 {:.1f} ms, "
                      "max {:.1f} ms",
                      counts_.held_new_sessions, counts_.held_requests, counts_.held_p50_ms, counts_.held_p99_ms,
                      counts_.held_max_ms));
}

void CutoverJob::ReleaseHeld() {
  std::vector<proxy::ReleasedHold> released = gate_->Resume();
  paused_by_us_ = false;
  counts_.hold_seconds = Seconds(steady_clock::now() - *hold_started_);
  std::vector<double> waits;
  for (const proxy::ReleasedHold& hold : released) {
    (hold.kind == proxy::HoldKind::kNewSession ? counts_.held_new_sessions : counts_.held_requests) += 1;
    waits.push_back(Milliseconds(hold.waited));
  }
  if (waits.empty()) return;
  std::sort(waits.begin(), waits.end());
  // Nearest rank: the smallest wait that at least p% of the waits do not
  // exceed (with 16 waits, p99 is the longest).
  auto percentile = [&waits](size_t p) { return waits[(waits.size() * p + 99) / 100 - 1]; };
  counts_.held_p50_ms = percentile(50);
  counts_.held_p99_ms = percentile(99);
  counts_.held_max_ms = waits.back();
}

Awaitable<absl::Status> CutoverJob::RollBack(absl::Status error) {
  if (paused_by_us_) {
    ReleaseHeld();
    StateCommit resumed = co_await CommitState(services_);
    if (!resumed.error.ok()) {
      spdlog::error("cutover {}: the rollback's RESUME was not published: {}", id_,
                    proxy::EscapeForLog(proxy::StatusText(resumed.error)));
    }
  }
  if (hold_started_) co_await EndFleetCutover(services_, options_.database);
  error_ = fmt::format("{}: {}", CutoverStepName(step_), proxy::StatusText(error));
  outcome_ = CutoverOutcome::kRolledBack;
  finished_ = steady_clock::now();
  spdlog::warn("cutover {} of {} rolled back at {}: {}", id_, proxy::QuoteForLog(options_.database),
               CutoverStepName(step_), proxy::EscapeForLog(proxy::StatusText(error)));
  const std::string code = protocol::SqlStateOf(error);
  // No conditional expression of strings: a coroutine (GCC 12).
  std::string source = source_name_;
  if (source.empty()) source = "the configured upstream";
  const std::string released = hold_started_ ? ", and what was held was released there" : "";
  const std::string promoted =
      promoted_ ? fmt::format(" \"{}\" was promoted and no longer follows the source.", options_.target) : "";
  co_return protocol::WithDetail(
      protocol::ErrorWithSqlState(
          code == sqlstate::kInternalError ? sqlstate::kObjectNotInPrerequisiteState : std::string_view(code),
          fmt::format("cutover {} of \"{}\" rolled back at step \"{}\": {}", id_, options_.database,
                      CutoverStepName(step_), proxy::StatusText(error))),
      fmt::format("Nothing was switched; new sessions still go to \"{}\"{}.{} SHOW CUTOVER {} has the report.",
                  source, released, promoted, id_));
}

}  // namespace pgvalve::admin
