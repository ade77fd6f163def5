#pragma once
// Which value of each limit holds for a database, and where it was set:
// the runtime value for the database (SET on the admin console), else the
// config file's for it, else the runtime value for "*", else the config
// file's for "*". Each limit is looked up on its own, with its exception
// list: a database's own query_timeout does not inherit the EXCEPT USER
// list of the "*" one. No I/O.

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "admin/limits/runtime_limits.h"
#include "config/config.h"
#include "config/limits.h"

namespace pgvalve::admin {

enum class LimitSource : uint8_t { kConfig, kRuntime };
std::string_view LimitSourceName(LimitSource source);

// One limit as it holds for a database. Points into the Config and
// RuntimeLimits it was resolved from.
struct EffectiveLimit {
  const config::LimitSetting* setting = nullptr;
  // The database the setting names: the session's own, or "*".
  std::string_view set_on;
  LimitSource source = LimitSource::kConfig;

  std::chrono::milliseconds value() const { return setting->value; }
  bool Exempts(std::string_view user) const;
};

class DatabaseLimits {
 public:
  // nullopt when no value is set anywhere; a value of 0 is set, and off.
  const std::optional<EffectiveLimit>& Get(config::Limit limit) const {
    return by_limit_[static_cast<size_t>(limit)];
  }
  // query_timeout_grace, or its default when none is set.
  std::chrono::milliseconds query_timeout_grace() const;

 private:
  friend class LimitResolver;
  std::array<std::optional<EffectiveLimit>, config::kAllLimits.size()> by_limit_;
};

// Resolves the limits of each database a sweep meets, once. Lives for one
// sweep: it points into `config` and `runtime`, which must not change
// meanwhile (both are only changed on the control thread, between sweeps).
class LimitResolver {
 public:
  LimitResolver(const config::Config& config, const RuntimeLimits& runtime);

  const DatabaseLimits& For(std::string_view database);
  // False when no database has a limit turned on: nothing to sweep.
  bool AnyEnforced() const { return any_enforced_; }

 private:
  DatabaseLimits Resolve(std::string_view database) const;

  const config::Config& config_;
  const RuntimeLimits& runtime_;
  bool any_enforced_ = false;
  absl::flat_hash_map<std::string, DatabaseLimits> cache_;
};

// A value set for a database or "*" (where both the config file and SET
// give one, SET's), as SHOW LIMITS lists it. Ordered by database, then
// limit.
struct LimitEntry {
  std::string database;
  config::Limit limit;
  config::LimitSetting setting;
  LimitSource source;
};
std::vector<LimitEntry> ListLimits(const config::Config& config, const RuntimeLimits& runtime);

}  // namespace pgvalve::admin
