#include "admin/commands/state_commit.h"

#include <spdlog/spdlog.h>

#include "admin/state_store.h"
#include "fleet/fleet.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/status_text.h"

namespace pgvalve::admin {
namespace {

namespace sqlstate = protocol::sqlstate;

StateCommit::Note ConvergenceNote(const fleet::PublishOutcome& outcome, std::chrono::milliseconds ack_timeout) {
  if (outcome.lagging.empty()) {
    return {fmt::format("applied by all {} instance(s) of the fleet (revision {})", outcome.instances,
                        outcome.revision),
            "", false};
  }
  std::string names;
  for (const fleet::InstanceRecord& instance : outcome.lagging) {
    names += fmt::format("{}{} (at revision {})", names.empty() ? "" : ", ", instance.id,
                         instance.applied_revision);
  }
  return {fmt::format("{} of {} instance(s) did not apply revision {} within {} ms: {}", outcome.lagging.size(),
                      outcome.instances, outcome.revision, ack_timeout.count(), names),
          "The change is in etcd: each applies it as soon as it reaches etcd again. An instance that stopped "
          "leaves the fleet when its lease expires.",
          true};
}

}  // namespace

absl::Status CheckStateChange(const AdminServices& services) {
  if (services.fleet == nullptr) return absl::OkStatus();
  absl::Status writable = services.fleet->CheckWritable();
  if (writable.ok()) return writable;
  return protocol::WithDetail(
      protocol::ErrorWithSqlState(sqlstate::kConnectionFailure, std::string(writable.message())),
      "SHOW FLEET and /readyz say when etcd is back.");
}

Awaitable<StateCommit> CommitState(AdminServices& services) {
  StateCommit commit;
  if (services.fleet != nullptr) {
    absl::StatusOr<fleet::PublishOutcome> published = co_await services.fleet->Publish();
    if (!published.ok()) {
      spdlog::warn("fleet: a state change was not published: {}", proxy::StatusText(published.status()));
      commit.error = protocol::ErrorWithSqlState(published.status().code() == absl::StatusCode::kAborted
                                                     ? sqlstate::kSerializationFailure
                                                     : sqlstate::kConnectionFailure,
                                                 std::string(published.status().message()));
    } else if (published->changed) {
      const auto ack_timeout = services.config.Current()->fleet.ack_timeout;
      commit.notes.push_back(ConvergenceNote(*published, ack_timeout));
      if (!published->lagging.empty()) spdlog::warn("fleet: {}", commit.notes.back().message);
    }
  }
  // Written whatever etcd said: after a failure it records the state taken
  // back, which is the one in force.
  absl::Status saved = services.state.Save(services.databases, services.limits);
  if (!saved.ok()) {
    spdlog::error("state file not written: {}", proxy::StatusText(saved));
    if (commit.error.ok()) {
      commit.notes.push_back(
          {fmt::format("the change is in effect but was not saved: {}", proxy::StatusText(saved)),
           "It will not survive a restart of pgvalve.", true});
    }
  }
  co_return commit;
}

Awaitable<absl::Status> PersistState(CommandContext& context) {
  StateCommit commit = co_await CommitState(context.services);
  for (StateCommit::Note& note : commit.notes) {
    co_await context.notices.Notice(std::move(note.message), std::move(note.detail));
  }
  co_return commit.error;
}

}  // namespace pgvalve::admin
