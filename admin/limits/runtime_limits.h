#pragma once
// Limits an operator set on the admin console (SET db.limit = ...), apart
// from the configuration, which a reload replaces as a whole. The state
// file keeps them across restarts. Used on the control thread only: the
// admin console, the state file and the limit sweep all run there.

#include <map>
#include <string>
#include <string_view>

#include "config/limits.h"

namespace pgvalve::admin {

class RuntimeLimits {
 public:
  void Set(const std::string& database, config::Limit limit, config::LimitSetting setting);
  // True if a value was set.
  bool Reset(const std::string& database, config::Limit limit);
  // How many values were set.
  size_t ResetAll(const std::string& database);

  // nullptr when nothing is set for `database` ("*" included).
  const config::LimitSettings* Find(std::string_view database) const;
  // Every database with at least one value, by name.
  const std::map<std::string, config::LimitSettings, std::less<>>& all() const { return by_database_; }
  bool empty() const { return by_database_.empty(); }

 private:
  // Only operators add entries, so names chosen by clients cannot grow it.
  std::map<std::string, config::LimitSettings, std::less<>> by_database_;
};

}  // namespace pgvalve::admin
