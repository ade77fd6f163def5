#include "admin/limits/runtime_limits.h"

namespace pgvalve::admin {

void RuntimeLimits::Set(const std::string& database, config::Limit limit,
                        config::LimitSetting setting) {
  by_database_[database].Set(limit, std::move(setting));
}

bool RuntimeLimits::Reset(const std::string& database, config::Limit limit) {
  auto found = by_database_.find(database);
  if (found == by_database_.end()) return false;
  const bool was_set = found->second.Clear(limit);
  if (found->second.empty()) by_database_.erase(found);
  return was_set;
}

size_t RuntimeLimits::ResetAll(const std::string& database) {
  auto found = by_database_.find(database);
  if (found == by_database_.end()) return 0;
  size_t cleared = 0;
  for (config::Limit limit : config::kAllLimits) cleared += found->second.Clear(limit) ? 1 : 0;
  by_database_.erase(found);
  return cleared;
}

const config::LimitSettings* RuntimeLimits::Find(std::string_view database) const {
  auto found = by_database_.find(database);
  return found == by_database_.end() ? nullptr : &found->second;
}

}  // namespace pgvalve::admin
