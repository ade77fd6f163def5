#include "admin/limits/limit_counters.h"

namespace pgvalve::admin {

void LimitCounters::Add(std::string_view set_on, config::Limit limit, LimitAction action) {
  auto found = counts_.find(set_on);
  if (found == counts_.end()) found = counts_.emplace(std::string(set_on), PerLimit{}).first;
  ++found->second[static_cast<size_t>(limit)][static_cast<size_t>(action)];
}

uint64_t LimitCounters::Count(std::string_view set_on, config::Limit limit,
                              LimitAction action) const {
  auto found = counts_.find(set_on);
  if (found == counts_.end()) return 0;
  return found->second[static_cast<size_t>(limit)][static_cast<size_t>(action)];
}

}  // namespace pgvalve::admin
