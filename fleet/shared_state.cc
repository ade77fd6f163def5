#include "fleet/shared_state.h"

#include <chrono>
#include <set>

#include "proxy/status_text.h"
#include "spdlog/spdlog.h"

namespace pgvalve::fleet {
namespace {

using proxy::StateOrigin;

}  // namespace

// Only what differs is touched: RESUME releases held requests, and a
// database that is already paused must not be paused again. The switch
// comes before the RESUME, so that released requests find the new route.
void SharedState::ApplyToGate(proxy::DatabaseGate& gate, const SharedDatabaseState& target) const {
  const SharedDatabaseState current = SharedStateOf(gate.Snapshot());
  if (current.disabled != target.disabled) {
    if (target.disabled) {
      gate.Disable({.reason = target.disabled->reason,
                    .except_roles = target.disabled->except_roles,
                    .origin = StateOrigin::kFleet});
    } else {
      gate.Enable();
    }
  }
  if (current.route_switch != target.route_switch) {
    std::optional<proxy::RouteSwitch> route_switch;
    if (target.route_switch) {
      route_switch = proxy::RouteSwitch{
          .upstream = target.route_switch->upstream,
          .at = std::chrono::system_clock::time_point(std::chrono::milliseconds(target.route_switch->at_ms)),
          .by = target.route_switch->by,
          .origin = StateOrigin::kFleet};
    }
    gate.SwitchRoute(std::move(route_switch));
    if (target.route_switch && current.paused && !target.paused && on_cutover_switch_) {
      on_cutover_switch_(gate.name(), target.route_switch->upstream);
    }
  }
  if (current.paused != target.paused) {
    if (target.paused) {
      gate.Pause(StateOrigin::kFleet);
    } else {
      gate.Resume();
    }
  }
}

void SharedState::ApplyValue(const std::string& key, const std::string& value) {
  const StateKeyName name = ParseStateKey(key_prefix_, key);
  switch (name.kind) {
    case StateKeyName::Kind::kUnknown:
      return;
    case StateKeyName::Kind::kDisableAll: {
      if (value.empty()) {
        databases_.disable_all().Clear();
        return;
      }
      absl::StatusOr<SharedDisableAll> state = DecodeDisableAll(value);
      if (!state.ok()) {
        spdlog::error("fleet: {} ignored: {}", key, proxy::StatusText(state.status()));
        return;
      }
      const std::optional<proxy::DisableAllState> current = databases_.disable_all().state();
      if (current && SharedStateOf(*current) == *state) return;
      databases_.disable_all().Set({.reason = state->reason,
                                    .except_databases = state->except_databases,
                                    .except_roles = state->except_roles,
                                    .origin = StateOrigin::kFleet});
      return;
    }
    case StateKeyName::Kind::kDatabase: {
      SharedDatabaseState target;
      if (!value.empty()) {
        absl::StatusOr<SharedDatabaseState> decoded = DecodeDatabaseState(value);
        if (!decoded.ok()) {
          spdlog::error("fleet: {} ignored: {}", key, proxy::StatusText(decoded.status()));
          return;
        }
        target = *std::move(decoded);
      }
      // A database at its default needs no gate made for it.
      if (target.IsDefault() && !databases_.Contains(name.database)) return;
      ApplyToGate(*databases_.Gate(name.database), target);
      return;
    }
  }
}

std::string SharedState::LocalValue(const StateKeyName& name) const {
  if (name.kind == StateKeyName::Kind::kDisableAll) {
    const std::optional<proxy::DisableAllState> state = databases_.disable_all().state();
    return state ? EncodeDisableAll(SharedStateOf(*state)) : std::string();
  }
  if (name.kind != StateKeyName::Kind::kDatabase || !databases_.Contains(name.database)) return {};
  const SharedDatabaseState state = SharedStateOf(databases_.Gate(name.database)->Snapshot());
  return state.IsDefault() ? std::string() : EncodeDatabaseState(state);
}

void SharedState::Reset(const std::vector<KeyValue>& kvs, int64_t revision) {
  std::map<std::string, Known> previous = std::move(known_);
  known_.clear();
  for (const KeyValue& kv : kvs) known_[kv.key] = Known{kv.value, kv.mod_revision, revision};
  // Keys that went while this instance was not watching, and local state
  // no key stands for (the state file's, before the first reset).
  std::set<std::string> cleared;
  for (const auto& [key, unused] : previous) cleared.insert(key);
  for (const auto& gate : databases_.All()) cleared.insert(DatabaseStateKey(key_prefix_, gate->name()));
  cleared.insert(DisableAllKey(key_prefix_));
  for (const std::string& key : cleared) {
    if (!known_.contains(key)) known_[key] = Known{{}, 0, revision};
  }
  for (const auto& [key, known] : known_) ApplyValue(key, known.value);
  applied_revision_ = revision;
}

void SharedState::Apply(const WatchEvent& event) {
  applied_revision_ = std::max(applied_revision_, event.kv.mod_revision);
  Known& known = known_[event.kv.key];
  if (event.kv.mod_revision <= known.seen_revision) return;
  const bool put = event.type == WatchEvent::Type::kPut;
  known = Known{put ? event.kv.value : std::string(), put ? event.kv.mod_revision : 0, event.kv.mod_revision};
  ApplyValue(event.kv.key, known.value);
}

void SharedState::Restore() {
  std::set<std::string> keys;
  for (const auto& gate : databases_.All()) keys.insert(DatabaseStateKey(key_prefix_, gate->name()));
  keys.insert(DisableAllKey(key_prefix_));
  for (const auto& [key, unused] : known_) keys.insert(key);
  for (const std::string& key : keys) {
    auto known = known_.find(key);
    ApplyValue(key, known != known_.end() ? known->second.value : std::string());
  }
}

bool SharedState::Same(const StateKeyName& name, const std::string& local, const std::string& shared) const {
  if (local.empty() || shared.empty()) return local.empty() && shared.empty();
  // Compared as states, not texts: a document written by another version
  // (or by hand) may order its fields differently.
  if (name.kind == StateKeyName::Kind::kDisableAll) {
    absl::StatusOr<SharedDisableAll> theirs = DecodeDisableAll(shared);
    return theirs.ok() && *theirs == *DecodeDisableAll(local);
  }
  absl::StatusOr<SharedDatabaseState> theirs = DecodeDatabaseState(shared);
  return theirs.ok() && *theirs == *DecodeDatabaseState(local);
}

std::optional<Txn> SharedState::ChangesToPublish() const {
  std::set<std::string> keys;
  for (const auto& gate : databases_.All()) keys.insert(DatabaseStateKey(key_prefix_, gate->name()));
  keys.insert(DisableAllKey(key_prefix_));
  for (const auto& [key, unused] : known_) keys.insert(key);
  Txn txn;
  for (const std::string& key : keys) {
    const StateKeyName name = ParseStateKey(key_prefix_, key);
    const std::string local = LocalValue(name);
    auto known = known_.find(key);
    const std::string shared = known != known_.end() ? known->second.value : std::string();
    if (Same(name, local, shared)) continue;
    // An absent key's mod_revision compares as 0.
    txn.compare.push_back({.key = key,
                           .target = Compare::Target::kModRevision,
                           .result = Compare::Result::kEqual,
                           .number = known != known_.end() ? known->second.mod_revision : 0});
    if (local.empty()) {
      txn.success.push_back({.kind = TxnOperation::Kind::kDelete, .key = key});
    } else {
      txn.success.push_back({.kind = TxnOperation::Kind::kPut, .key = key, .value = local});
    }
  }
  if (txn.success.empty()) return std::nullopt;
  return txn;
}

void SharedState::Published(const Txn& txn, int64_t revision) {
  for (const TxnOperation& operation : txn.success) {
    Known& known = known_[operation.key];
    // The watch may have delivered a newer change before this answer came.
    if (revision <= known.seen_revision) continue;
    const bool put = operation.kind == TxnOperation::Kind::kPut;
    known = Known{put ? operation.value : std::string(), put ? revision : 0, revision};
  }
}

}  // namespace pgvalve::fleet
