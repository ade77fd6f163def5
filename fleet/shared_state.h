#pragma once
// This instance's copy of the fleet's shared admin state, and the bridge
// between it and the local gates. etcd is the truth: what a watch
// delivers is applied to the gates as it comes (Apply, Reset); a command
// that changed a gate locally publishes the difference (ChangesToPublish)
// in one transaction that only succeeds if nobody changed those keys since
// this instance last saw them, and a change that could not be published is
// taken back (Restore). Control thread only; no I/O.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fleet/etcd_codec.h"
#include "fleet/shared_state_codec.h"
#include "proxy/database_registry.h"

namespace pgvalve::fleet {

class SharedState {
 public:
  SharedState(std::string key_prefix, proxy::DatabaseRegistry& databases)
      : key_prefix_(std::move(key_prefix)), databases_(databases) {}

  // A switch that arrives together with a RESUME is a CUTOVER's: the
  // sessions of `database` still on another server than `upstream` must be
  // closed before the held requests are released, or a held request would
  // reach the old server after the switch. Called between the two.
  using OnCutoverSwitch = std::function<void(const std::string& database, const std::string& upstream)>;
  void SetOnCutoverSwitch(OnCutoverSwitch on_switch) { on_cutover_switch_ = std::move(on_switch); }

  // Everything under StatePrefix as of `revision` (a range's answer):
  // replaces what was known, and the gates follow, including those whose
  // key is gone.
  void Reset(const std::vector<KeyValue>& kvs, int64_t revision);
  // One change a watch saw.
  void Apply(const WatchEvent& event);
  // The gates back to the last state etcd was known to hold.
  void Restore();

  // The transaction that writes what the local gates hold and etcd does
  // not: one compare per key (its mod_revision as last seen), one put or
  // delete per key. Nothing when the two agree.
  std::optional<Txn> ChangesToPublish() const;
  // That transaction committed at `revision`: etcd now holds it.
  void Published(const Txn& txn, int64_t revision);

  // etcd's revision up to which every change of the state has been
  // applied: a Reset's, then each watch message's (Advance), so that
  // instances in the same state show the same number.
  int64_t applied_revision() const { return applied_revision_; }
  // A watch message at `revision` came with every change up to it.
  void Advance(int64_t revision) { applied_revision_ = std::max(applied_revision_, revision); }

 private:
  struct Known {
    std::string value;  // as etcd holds it; empty once deleted
    int64_t mod_revision = 0;  // 0 once deleted, as etcd compares it
    // The revision this was learnt at: an event no newer is an echo of a
    // change already known (this instance's own, published before the
    // watch delivered it) and must not take the gates back.
    int64_t seen_revision = 0;
  };
  // Whether `local` and `shared` (as etcd holds it) say the same of `key`.
  bool Same(const StateKeyName& name, const std::string& local, const std::string& shared) const;
  void ApplyToGate(proxy::DatabaseGate& gate, const SharedDatabaseState& target) const;
  // Applies `value` (empty: the key was deleted) of `key` to the gates.
  void ApplyValue(const std::string& key, const std::string& value);
  // What the local gates say key `key` should hold (empty: no key).
  std::string LocalValue(const StateKeyName& name) const;

  const std::string key_prefix_;
  proxy::DatabaseRegistry& databases_;
  std::map<std::string, Known> known_;
  int64_t applied_revision_ = 0;
  OnCutoverSwitch on_cutover_switch_;
};

}  // namespace pgvalve::fleet
