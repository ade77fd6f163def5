#pragma once
// The admin state a fleet shares, as etcd holds it: one key per database
// whose state differs from the default (DISABLE, PAUSE, SWITCH, which a
// CUTOVER sets too) and one for DISABLE ALL, each a small JSON document.
// One key per database, not one document for everything, so that
// operators acting on different databases never conflict. No I/O here.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "proxy/database_gate.h"
#include "proxy/disable_all.h"

namespace pgvalve::fleet {

struct SharedDisable {
  std::string reason;
  std::vector<std::string> except_roles;
  bool operator==(const SharedDisable&) const = default;
};

struct SharedSwitch {
  std::string upstream;
  // Milliseconds since the epoch: what the document keeps, so that a
  // state read back compares equal to the one written.
  int64_t at_ms = 0;
  std::string by;
  bool operator==(const SharedSwitch&) const = default;
};

// One database's shared state; the default (nothing set) is no key at all.
struct SharedDatabaseState {
  std::optional<SharedDisable> disabled;
  bool paused = false;
  std::optional<SharedSwitch> route_switch;
  bool operator==(const SharedDatabaseState&) const = default;
  bool IsDefault() const { return !disabled && !paused && !route_switch; }
};

struct SharedDisableAll {
  std::string reason;
  std::vector<std::string> except_databases;
  std::vector<std::string> except_roles;
  bool operator==(const SharedDisableAll&) const = default;
};

// The shared part of a gate's state (not its holders or watchers).
SharedDatabaseState SharedStateOf(const proxy::DatabaseGateSnapshot& snapshot);
SharedDisableAll SharedStateOf(const proxy::DisableAllState& state);

std::string EncodeDatabaseState(const SharedDatabaseState& state);
absl::StatusOr<SharedDatabaseState> DecodeDatabaseState(std::string_view json);
std::string EncodeDisableAll(const SharedDisableAll& state);
absl::StatusOr<SharedDisableAll> DecodeDisableAll(std::string_view json);

// Keys under [fleet] key_prefix: "<prefix>/state/" holds it all,
// "<prefix>/state/disable_all" and "<prefix>/state/databases/<name>".
std::string StatePrefix(std::string_view key_prefix);
std::string DisableAllKey(std::string_view key_prefix);
std::string DatabaseStateKey(std::string_view key_prefix, std::string_view database);

// What a key under StatePrefix names.
struct StateKeyName {
  enum class Kind { kDisableAll, kDatabase, kUnknown };
  Kind kind = Kind::kUnknown;
  std::string database;  // kDatabase only
};
StateKeyName ParseStateKey(std::string_view key_prefix, std::string_view key);

}  // namespace pgvalve::fleet
