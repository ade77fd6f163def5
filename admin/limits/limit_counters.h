#pragma once
// How many times each limit acted, per action, counted under the database
// its setting names (a "*" value counts what it did on every database it
// covers). Declared once for SHOW LIMITS and the metrics. Control thread
// only, as the limit sweep and the admin console are.

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "admin/limits/limit_action.h"
#include "config/limits.h"

namespace pgvalve::admin {

class LimitCounters {
 public:
  void Add(std::string_view set_on, config::Limit limit, LimitAction action);
  uint64_t Count(std::string_view set_on, config::Limit limit, LimitAction action) const;
  // visit(set_on, limit, action, count) for every count above zero, by
  // set_on, then limit, then action.
  template <typename Visit>
  void ForEach(Visit visit) const {
    for (const auto& [set_on, per_limit] : counts_) {
      for (config::Limit limit : config::kAllLimits) {
        for (LimitAction action : kAllLimitActions) {
          const uint64_t count = per_limit[static_cast<size_t>(limit)][static_cast<size_t>(action)];
          if (count > 0) visit(std::string_view(set_on), limit, action, count);
        }
      }
    }
  }

 private:
  using PerAction = std::array<uint64_t, kAllLimitActions.size()>;
  using PerLimit = std::array<PerAction, config::kAllLimits.size()>;
  // Only settings that acted have an entry: bounded by what operators set.
  std::map<std::string, PerLimit, std::less<>> counts_;
};

}  // namespace pgvalve::admin
