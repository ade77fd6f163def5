#include "config/limits.h"

#include <algorithm>

namespace pgvalve::config {

std::optional<Limit> ParseLimitName(std::string_view name) {
  for (Limit limit : kAllLimits) {
    if (LimitName(limit) == name) return limit;
  }
  return std::nullopt;
}

bool LimitSettings::empty() const {
  return std::none_of(by_limit_.begin(), by_limit_.end(),
                      [](const auto& setting) { return setting.has_value(); });
}

}  // namespace pgvalve::config
