#pragma once
// Making an operator's change of lasting state (DISABLE, PAUSE, SWITCH,
// DISABLE ALL, SET limits; the state a DRAIN or CUTOVER sets) stick: the
// state file is written and, with [fleet], the change is published to etcd
// and waited for on every live instance. A fleet whose etcd cannot be
// reached refuses changes before they are made (CheckStateChange), and a
// change that could not be published is taken back.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "admin/commands/command_context.h"

namespace pgvalve::admin {

// Before a command changes shared state: OK, or why it may not now (08006
// for a fleet whose etcd is unreachable).
absl::Status CheckStateChange(const AdminServices& services);

// What committing came to.
struct StateCommit {
  // Not OK when the change could not be published: it was taken back here
  // too (08006 etcd unreachable, 40001 changed concurrently elsewhere).
  absl::Status error;
  // For the operator: the state file not written; which instances have
  // not applied the change in time, or that all did.
  struct Note {
    std::string message;
    std::string detail;
    bool warning = false;  // something is not as the operator asked
  };
  std::vector<Note> notes;
};
Awaitable<StateCommit> CommitState(AdminServices& services);

// CommitState for a command: its notes as NOTICEs, its error returned.
Awaitable<absl::Status> PersistState(CommandContext& context);

}  // namespace pgvalve::admin
