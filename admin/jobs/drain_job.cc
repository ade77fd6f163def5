#include "admin/jobs/drain_job.h"

#include <algorithm>
#include <map>

#include "admin/commands/state_commit.h"
#include "admin/jobs/fleet_backends.h"
#include "fleet/fleet_jobs.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/cancel_forwarder.h"
#include "proxy/status_text.h"
#include "spdlog/spdlog.h"
#include "upstream/activity_queries.h"
#include "upstream/backend_signals.h"
#include "upstream/control_connections.h"

namespace pgvalve::admin {
namespace {

namespace sqlstate = protocol::sqlstate;
using proxy::SessionEnd;
using proxy::SessionState;
using std::chrono::steady_clock;

constexpr std::chrono::seconds kProgressInterval{1};
// How often pg_stat_activity is re-read once pgvalve's side is done.
constexpr std::chrono::milliseconds kVerifyInterval{100};
constexpr std::chrono::milliseconds kCancelTimeout{5000};
// Sessions idle outside a transaction were told to close when the drain
// started and their relays close them at once; at an escalation that comes
// right after (GRACE 0) they get this long to finish before their backends
// are signalled, so that they end as "closed idle", not "terminated".
constexpr std::chrono::milliseconds kIdleCloseAllowance{250};
constexpr std::string_view kDrainedMessage = "terminating connection due to administrator command";

bool InTransaction(SessionState state) {
  return state == SessionState::kActive || state == SessionState::kIdleInTransaction ||
         state == SessionState::kIdleInFailedTransaction;
}

}  // namespace

std::string_view EscalationName(DrainEscalation escalation) {
  switch (escalation) {
    case DrainEscalation::kTerminate: return "TERMINATE";
    case DrainEscalation::kCancel: return "CANCEL";
    case DrainEscalation::kWait: return "WAIT";
  }
  return "";
}

std::string_view DrainOutcomeName(DrainOutcome outcome) {
  switch (outcome) {
    case DrainOutcome::kPending: return "pending";
    case DrainOutcome::kClosedIdle: return "closed idle";
    case DrainOutcome::kClosedAfterCommit: return "closed after commit";
    case DrainOutcome::kCancelled: return "cancelled";
    case DrainOutcome::kTerminated: return "terminated";
    case DrainOutcome::kClientDisconnected: return "client disconnected";
    case DrainOutcome::kServerClosed: return "server closed";
    case DrainOutcome::kDisconnected: return "disconnected";
    case DrainOutcome::kLeftRunning: return "left running (drain cancelled)";
    case DrainOutcome::kStillPresent: return "still present";
  }
  return "";
}

std::string_view PhaseName(DrainPhase phase) {
  switch (phase) {
    case DrainPhase::kGrace: return "grace";
    case DrainPhase::kEscalated: return "escalated";
    case DrainPhase::kDone: return "done";
    case DrainPhase::kTimedOut: return "timed out";
    case DrainPhase::kCancelled: return "cancelled";
    case DrainPhase::kFailed: return "failed";
  }
  return "";
}

DrainJob::DrainJob(uint64_t id, DrainOptions options, AdminServices& services)
    : id_(id),
      options_(std::move(options)),
      services_(services),
      started_(steady_clock::now()),
      started_wall_(std::chrono::system_clock::now()) {}

double DrainJob::SecondsSinceStart() const {
  return std::chrono::duration<double>(steady_clock::now() - started_).count();
}

size_t DrainJob::BackendsLeft() const {
  size_t left = 0;
  for (const DrainedBackend& backend : backends_) {
    if (backend.outcome == DrainOutcome::kPending || backend.outcome == DrainOutcome::kStillPresent) ++left;
  }
  return left;
}

std::optional<double> DrainJob::elapsed_seconds() const {
  const auto end = finished_.value_or(steady_clock::now());
  return std::chrono::duration<double>(end - started_).count();
}

std::optional<config::UpstreamConfig> DrainJob::RoutedUpstream() const {
  auto config = services_.config.Current();
  const config::UpstreamConfig* upstream = config->UpstreamFor(options_.database);
  if (upstream == nullptr) return std::nullopt;
  return *upstream;
}

std::set<int32_t> DrainJob::ExemptPids() const {
  // Every live pgvalve session on the database that is not being drained:
  // those of EXCEPT roles, including ones that connected after the drain
  // began (nobody else gets in).
  std::set<uint64_t> drained;
  for (const DrainedBackend& backend : backends_) {
    if (backend.client_id) drained.insert(*backend.client_id);
  }
  std::set<int32_t> pids = other_instances_backends_;
  for (const auto& record : SessionsOf(services_.sessions, options_.database)) {
    if (!drained.contains(record->id()) && record->backend_pid() != 0) pids.insert(record->backend_pid());
  }
  return pids;
}

bool DrainJob::ExemptSessionStarting() const {
  std::set<uint64_t> drained;
  for (const DrainedBackend& backend : backends_) {
    if (backend.client_id) drained.insert(*backend.client_id);
  }
  for (const auto& record : SessionsOf(services_.sessions, options_.database)) {
    if (!drained.contains(record->id()) && record->backend_pid() == 0) return true;
  }
  return false;
}

void DrainJob::LeaveToOtherInstances(std::set<int32_t> pids, bool complete) {
  other_instances_backends_ = std::move(pids);
  direct_known_ = complete;
}

void DrainJob::Cancel() {
  cancel_requested_ = true;
  if (watcher_) watcher_->Wake();
}

absl::Status DrainJob::Failure(std::string_view code, std::string message) const {
  std::string detail;
  for (const DrainedBackend& backend : backends_) {
    if (backend.outcome != DrainOutcome::kStillPresent) continue;
    detail += fmt::format("{}{} (backend pid {}, user {}, {}){}", detail.empty() ? "" : "\n",
                          backend.client_id ? fmt::format("client {}", *backend.client_id)
                                            : std::string("direct backend"),
                          backend.backend_pid, backend.user, backend.state_at_start,
                          backend.note.empty() ? "" : ": " + backend.note);
  }
  return protocol::WithDetail(protocol::ErrorWithSqlState(code, message), detail);
}

Awaitable<absl::Status> DrainJob::Start() {
  auto gate = services_.databases.Gate(options_.database);
  if (options_.follows_fleet_drain) {
    // The same DISABLE as the one published, so that it is refused here
    // even before etcd's copy arrives, and nothing differs once it has.
    gate->Disable({.reason = "draining", .except_roles = options_.except_roles});
    // For the runner's INCLUDING DIRECT: this instance's backends, listed
    // once no new session can add one.
    co_await ListFleetBackends(services_, fleet::kDrainJob, options_.database);
  } else {
    if (absl::Status allowed = CheckStateChange(services_); !allowed.ok()) co_return allowed;
    gate->Disable({.reason = "draining", .except_roles = options_.except_roles});
    // With a fleet, every instance refuses new sessions before this one
    // starts closing its own. The drain does not depend on the state file;
    // a failure to write it is logged.
    StateCommit commit = co_await CommitState(services_);
    if (!commit.error.ok()) co_return commit.error;
  }
  watcher_ = std::make_unique<GateWatcher>(co_await proxy::asio::this_coro::executor, gate);

  const auto& excepted = options_.except_roles;
  const auto now = proxy::WallClock::now();
  for (auto& record : SessionsOf(services_.sessions, options_.database)) {
    if (std::find(excepted.begin(), excepted.end(), record->identity().user) != excepted.end()) {
      continue;
    }
    const proxy::SessionSnapshot session = record->Snapshot();
    if (!Matches(options_.filter, session, now)) continue;
    if (auto control = record->control()) {
      control->Close(proxy::CloseWhen::kTransactionBoundary, std::string(sqlstate::kAdminShutdown),
                     std::string(kDrainedMessage));
    }
    backends_.push_back({.client_id = session.identity.id,
                         .backend_pid = session.backend_pid,
                         .user = session.identity.user,
                         .application_name = session.application_name,
                         .upstream = session.upstream,
                         .state_at_start = std::string(proxy::SessionStateName(session.state)),
                         .record = std::move(record)});
  }

  if (!options_.including_direct || !direct_known_) co_return absl::OkStatus();
  std::optional<config::UpstreamConfig> upstream = RoutedUpstream();
  if (!upstream || !upstream->control_user) {
    co_return protocol::ErrorWithSqlState(
        sqlstate::kObjectNotInPrerequisiteState,
        fmt::format("INCLUDING DIRECT needs control_user on the upstream of \"{}\"", options_.database));
  }
  std::shared_ptr<upstream::ControlConnection> control = services_.control.For(*upstream);
  // pgvalve's own backends: those being drained (some may have left the
  // registry already while their backend is still exiting) and every other
  // live session.
  std::vector<int32_t> pgvalve_pids;
  for (const DrainedBackend& backend : backends_) pgvalve_pids.push_back(backend.backend_pid);
  for (const auto& record : services_.sessions.All()) pgvalve_pids.push_back(record->backend_pid());
  pgvalve_pids.insert(pgvalve_pids.end(), other_instances_backends_.begin(), other_instances_backends_.end());
  absl::StatusOr<std::vector<upstream::ClientBackendRow>> direct = co_await upstream::FindDirectClientBackends(
      *control, options_.database, pgvalve_pids, ActivityConditionOf(options_.filter),
      services_.config.Current()->admin.query_text_length);
  if (!direct.ok()) co_return direct.status();
  // A session that finished authenticating while the query ran is in its
  // answer under a pid pgvalve did not know before: it is one of ours.
  std::vector<int32_t> pgvalve_pids_now;
  for (const auto& record : services_.sessions.All()) pgvalve_pids_now.push_back(record->backend_pid());
  for (const upstream::ClientBackendRow& row : *direct) {
    if (std::find(pgvalve_pids_now.begin(), pgvalve_pids_now.end(), row.pid) != pgvalve_pids_now.end()) continue;
    backends_.push_back({.backend_pid = row.pid,
                         .user = row.user,
                         .application_name = row.application_name,
                         .upstream = upstream->name,
                         .state_at_start = row.state});
  }
  co_return absl::OkStatus();
}

void DrainJob::CollectOutcomes() {
  for (DrainedBackend& backend : backends_) {
    if (backend.outcome != DrainOutcome::kPending || !backend.record) continue;
    std::optional<SessionEnd> end = backend.record->end();
    if (!end) continue;
    backend.seconds = SecondsSinceStart();
    if (backend.terminate_sent) {
      backend.outcome = DrainOutcome::kTerminated;
    } else if (backend.cancel_sent) {
      backend.outcome = DrainOutcome::kCancelled;
    } else if (*end == SessionEnd::kClosedByPgvalve) {
      backend.outcome = backend.state_at_start == "idle" ? DrainOutcome::kClosedIdle : DrainOutcome::kClosedAfterCommit;
    } else if (*end == SessionEnd::kClientClosed) {
      backend.outcome = DrainOutcome::kClientDisconnected;
    } else {
      backend.outcome = DrainOutcome::kServerClosed;
    }
  }
}

Awaitable<void> DrainJob::AwaitIdleCloses() {
  const auto until = steady_clock::now() + kIdleCloseAllowance;
  while (true) {
    CollectOutcomes();
    const bool closing = std::any_of(backends_.begin(), backends_.end(), [](const auto& b) {
      return b.outcome == DrainOutcome::kPending && b.record && b.record->state() == SessionState::kIdle;
    });
    if (!closing || steady_clock::now() >= until) co_return;
    co_await watcher_->WaitUntil(until);
  }
}

Awaitable<void> DrainJob::Escalate() {
  phase_ = DrainPhase::kEscalated;
  co_await AwaitIdleCloses();
  auto config = services_.config.Current();
  std::map<std::string, std::vector<DrainedBackend*>> to_terminate;
  for (DrainedBackend& backend : backends_) {
    if (backend.outcome != DrainOutcome::kPending || !backend.record) continue;
    auto control = backend.record->control();
    if (options_.escalation == DrainEscalation::kCancel) {
      if (backend.record->state() == SessionState::kActive) {
        if (std::optional<proxy::BackendKey> key = backend.record->backend()) {
          // The close below still ends the session once its request is
          // answered; the report says why that may take a while.
          if (absl::Status sent = co_await proxy::ForwardCancelRequest(*key, kCancelTimeout);
              !sent.ok()) {
            backend.note = fmt::format("cancel request failed: {}", proxy::StatusText(sent));
          }
        }
      }
      backend.cancel_sent = true;
      // Once the cancelled request is answered, even inside a transaction.
      if (control) {
        control->Close(proxy::CloseWhen::kRequestBoundary, std::string(sqlstate::kAdminShutdown),
                       std::string(kDrainedMessage));
      }
    } else {
      to_terminate[backend.upstream].push_back(&backend);
    }
  }
  for (auto& [upstream_name, backends] : to_terminate) {
    auto upstream = config->upstreams.find(upstream_name);
    if (upstream == config->upstreams.end() || !upstream->second.control_user) {
      // Without a control connection: what KILL does without one.
      for (DrainedBackend* backend : backends) {
        std::string cancel = "cancel request";
        if (std::optional<proxy::BackendKey> key = backend->record->backend()) {
          if (absl::Status sent = co_await proxy::ForwardCancelRequest(*key, kCancelTimeout);
              !sent.ok()) {
            cancel = fmt::format("cancel request failed ({})", proxy::StatusText(sent));
          }
        }
        if (auto control = backend->record->control()) {
          control->Close(proxy::CloseWhen::kNow, std::string(sqlstate::kAdminShutdown),
                         std::string(kDrainedMessage));
        }
        backend->terminate_sent = true;
        backend->note = fmt::format("no control_user: {} and backend socket closed", cancel);
      }
      continue;
    }
    std::vector<int32_t> pids;
    for (DrainedBackend* backend : backends) pids.push_back(backend->backend_pid);
    std::shared_ptr<upstream::ControlConnection> control = services_.control.For(upstream->second);
    std::vector<upstream::TerminateOutcome> outcomes = co_await upstream::TerminateBackends(*control, pids);
    for (size_t i = 0; i < outcomes.size(); ++i) {
      backends[i]->terminate_sent = outcomes[i].signalled;
      if (!outcomes[i].signalled) backends[i]->note = outcomes[i].result;
    }
  }
  if (options_.including_direct) co_await TerminateDirect();
}

Awaitable<void> DrainJob::TerminateDirect() {
  std::vector<DrainedBackend*> direct;
  std::vector<int32_t> pids;
  for (DrainedBackend& backend : backends_) {
    if (backend.client_id || backend.terminate_sent || backend.outcome != DrainOutcome::kPending) continue;
    direct.push_back(&backend);
    pids.push_back(backend.backend_pid);
  }
  std::optional<config::UpstreamConfig> upstream = RoutedUpstream();
  if (pids.empty() || !upstream) co_return;
  std::shared_ptr<upstream::ControlConnection> control = services_.control.For(*upstream);
  std::vector<upstream::TerminateOutcome> outcomes = co_await upstream::TerminateBackends(*control, pids);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    direct[i]->terminate_sent = outcomes[i].signalled;
    direct[i]->note = outcomes[i].signalled ? "" : outcomes[i].result;
  }
}

Awaitable<bool> DrainJob::Verify() {
  auto config = services_.config.Current();
  std::optional<config::UpstreamConfig> routed = RoutedUpstream();
  std::set<std::string> upstreams;
  for (const DrainedBackend& backend : backends_) upstreams.insert(backend.upstream);
  if (options_.including_direct && direct_known_ && routed) upstreams.insert(routed->name);

  const std::set<int32_t> exempt = ExemptPids();
  bool clean = true;
  for (const std::string& name : upstreams) {
    auto upstream = config->upstreams.find(name);
    if (upstream == config->upstreams.end() || !upstream->second.control_user) {
      // Nothing to ask: pgvalve's own view (every session ended) is all
      // there is, and the report says so.
      verified_against_server_ = false;
      continue;
    }
    std::shared_ptr<upstream::ControlConnection> control = services_.control.For(upstream->second);
    absl::StatusOr<std::vector<upstream::DatabaseBackend>> activity =
        co_await upstream::DatabaseBackends(*control, options_.database, 0);
    if (!activity.ok()) {
      clean = false;
      continue;
    }
    std::map<int32_t, const upstream::DatabaseBackend*> present;
    for (const upstream::DatabaseBackend& row : *activity) present.emplace(row.pid, &row);

    // Whatever else is on the database must be gone too, unless a filter
    // chose what to drain: then only the chosen are checked.
    const bool all_backends =
        options_.including_direct && direct_known_ && options_.filter.empty() && routed && routed->name == name;
    for (DrainedBackend& backend : backends_) {
      if (backend.upstream != name) continue;
      const bool gone = !present.contains(backend.backend_pid);
      if (!gone) clean = false;
      if (!backend.client_id && gone && backend.outcome == DrainOutcome::kPending) {
        backend.outcome = backend.terminate_sent ? DrainOutcome::kTerminated : DrainOutcome::kDisconnected;
        backend.seconds = SecondsSinceStart();
      }
      present.erase(backend.backend_pid);
    }
    if (!all_backends) continue;
    // A pgvalve session still authenticating has a backend whose pid it
    // does not know yet; nothing unknown is taken for direct until it does.
    if (!present.empty() && ExemptSessionStarting()) {
      clean = false;
      continue;
    }
    for (const auto& [pid, row] : present) {
      if (exempt.contains(pid)) continue;
      // Connected straight to the server after the drain began.
      clean = false;
      backends_.push_back({.backend_pid = pid,
                           .user = row->user,
                           .application_name = row->application_name,
                           .upstream = name,
                           .state_at_start = "connected during drain: " + row->state});
    }
  }
  co_return clean;
}

Awaitable<absl::Status> DrainJob::Run(NoticeChannel& notices) {
  if (absl::Status started = co_await Start(); !started.ok()) {
    phase_ = DrainPhase::kFailed;
    finished_ = steady_clock::now();
    co_return started;
  }
  const auto escalate_at = started_ + options_.grace;
  const auto deadline = started_ + options_.EffectiveTimeout();
  auto next_progress = started_ + kProgressInterval;
  bool client_present = true;
  while (true) {
    CollectOutcomes();
    if (cancel_requested_) {
      for (DrainedBackend& backend : backends_) {
        if (backend.outcome != DrainOutcome::kPending) continue;
        if (backend.record) {
          if (auto control = backend.record->control()) control->WithdrawClose();
        }
        backend.outcome = DrainOutcome::kLeftRunning;
      }
      phase_ = DrainPhase::kCancelled;
      finished_ = steady_clock::now();
      co_return protocol::ErrorWithSqlState(
          sqlstate::kQueryCanceled,
          fmt::format("DRAIN {} was cancelled; the database stays disabled", options_.database));
    }
    const auto now = steady_clock::now();
    if (phase_ == DrainPhase::kGrace && now >= escalate_at &&
        options_.escalation != DrainEscalation::kWait) {
      co_await Escalate();
      CollectOutcomes();
    } else if (phase_ == DrainPhase::kEscalated && options_.including_direct) {
      co_await TerminateDirect();
    }

    const bool sessions_done = std::all_of(backends_.begin(), backends_.end(), [](const auto& b) {
      return !b.record || b.outcome != DrainOutcome::kPending;
    });
    if (sessions_done && co_await Verify()) {
      phase_ = DrainPhase::kDone;
      finished_ = steady_clock::now();
      if (!verified_against_server_ && client_present) {
        co_await notices.Notice(
            fmt::format("drain of {} not verified against pg_stat_activity", options_.database),
            "An upstream has no control_user; pgvalve's own sessions have all ended.");
      }
      co_return absl::OkStatus();
    }
    if (steady_clock::now() >= deadline) {
      for (DrainedBackend& backend : backends_) {
        if (backend.outcome == DrainOutcome::kPending) backend.outcome = DrainOutcome::kStillPresent;
      }
      phase_ = DrainPhase::kTimedOut;
      finished_ = steady_clock::now();
      co_return Failure(sqlstate::kObjectInUse,
                        fmt::format("DRAIN {} timed out after {} ms; database \"{}\" is still being "
                                    "accessed (it stays disabled)",
                                    options_.database, options_.EffectiveTimeout().count(),
                                    options_.database));
    }
    if (client_present && steady_clock::now() >= next_progress) {
      next_progress += kProgressInterval;
      client_present = co_await notices.Notice(ProgressText());
    }
    auto wake_at = std::min(next_progress, deadline);
    if (phase_ == DrainPhase::kGrace && options_.escalation != DrainEscalation::kWait) {
      wake_at = std::min(wake_at, escalate_at);
    }
    if (sessions_done) wake_at = std::min(wake_at, steady_clock::now() + kVerifyInterval);
    co_await watcher_->WaitUntil(wake_at);
  }
}

std::string DrainJob::ProgressText() const {
  std::map<std::string, int> by_state;
  size_t sessions_left = 0;
  size_t direct_left = 0;
  double oldest_transaction = 0;
  const auto now_wall = std::chrono::system_clock::now();
  for (const DrainedBackend& backend : backends_) {
    if (backend.outcome != DrainOutcome::kPending) continue;
    if (!backend.record) {
      ++direct_left;
      continue;
    }
    ++sessions_left;
    const SessionState state = backend.record->state();
    ++by_state[std::string(proxy::SessionStateName(state))];
    if (InTransaction(state)) {
      oldest_transaction = std::max(
          oldest_transaction,
          std::chrono::duration<double>(now_wall - backend.record->transaction_start()).count());
    }
  }
  std::string states;
  for (const auto& [state, count] : by_state) {
    states += fmt::format("{}{} {}", states.empty() ? "" : ", ", count, state);
  }
  std::string text = fmt::format("draining {}: {} session(s) left{}", options_.database, sessions_left,
                                 states.empty() ? "" : " (" + states + ")");
  if (options_.including_direct) text += fmt::format(", {} direct backend(s)", direct_left);
  if (oldest_transaction > 0) text += fmt::format("; oldest transaction {:.1f} s", oldest_transaction);
  if (phase_ == DrainPhase::kGrace && options_.escalation != DrainEscalation::kWait) {
    const double to_escalation =
        std::chrono::duration<double>(started_ + options_.grace - steady_clock::now()).count();
    text += fmt::format("; {} in {:.1f} s", EscalationName(options_.escalation),
                        std::max(0.0, to_escalation));
  } else if (phase_ == DrainPhase::kEscalated) {
    text += fmt::format("; {} sent, waiting for pg_stat_activity", EscalationName(options_.escalation));
  }
  return text;
}

}  // namespace pgvalve::admin
