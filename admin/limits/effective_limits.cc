#include "admin/limits/effective_limits.h"

#include <algorithm>
#include <map>

namespace pgvalve::admin {
namespace {

using config::Limit;
using config::LimitSettings;

constexpr std::string_view kEveryDatabase = "*";

// Where a database's (or "*"'s) values are kept, and under which name: the
// name is the map's own key, so an EffectiveLimit may point at it for as
// long as the config and the runtime limits stay as they are.
struct Place {
  const LimitSettings* settings = nullptr;
  std::string_view set_on;
  LimitSource source = LimitSource::kConfig;
};

Place ConfigPlace(const config::Config& config, std::string_view database) {
  auto route = config.databases.find(std::string(database));
  if (route == config.databases.end()) return {};
  return {&route->second.limits, route->first, LimitSource::kConfig};
}

Place RuntimePlace(const RuntimeLimits& runtime, std::string_view database) {
  auto found = runtime.all().find(database);
  if (found == runtime.all().end()) return {};
  return {&found->second, found->first, LimitSource::kRuntime};
}

// A limit that can act on a session: set and not 0. A grace alone does not.
bool Enforces(const LimitSettings& settings) {
  for (Limit limit : config::kAllLimits) {
    if (limit == Limit::kQueryTimeoutGrace) continue;
    const auto& setting = settings.Get(limit);
    if (setting && setting->value.count() > 0) return true;
  }
  return false;
}

}  // namespace

std::string_view LimitSourceName(LimitSource source) {
  switch (source) {
    case LimitSource::kConfig: return "config";
    case LimitSource::kRuntime: return "runtime";
  }
  return "unknown";
}

bool EffectiveLimit::Exempts(std::string_view user) const {
  const auto& users = setting->except_users;
  return std::find(users.begin(), users.end(), user) != users.end();
}

std::chrono::milliseconds DatabaseLimits::query_timeout_grace() const {
  const auto& grace = Get(Limit::kQueryTimeoutGrace);
  return grace ? grace->value() : config::kDefaultQueryTimeoutGrace;
}

LimitResolver::LimitResolver(const config::Config& config, const RuntimeLimits& runtime)
    : config_(config), runtime_(runtime) {
  for (const auto& [name, route] : config.databases) any_enforced_ = any_enforced_ || Enforces(route.limits);
  for (const auto& [name, settings] : runtime.all()) any_enforced_ = any_enforced_ || Enforces(settings);
}

const DatabaseLimits& LimitResolver::For(std::string_view database) {
  const absl::string_view key(database.data(), database.size());
  auto found = cache_.find(key);
  if (found == cache_.end()) found = cache_.emplace(std::string(database), Resolve(database)).first;
  return found->second;
}

DatabaseLimits LimitResolver::Resolve(std::string_view database) const {
  // In the order they win.
  const Place places[] = {RuntimePlace(runtime_, database), ConfigPlace(config_, database),
                          RuntimePlace(runtime_, kEveryDatabase),
                          ConfigPlace(config_, kEveryDatabase)};
  DatabaseLimits limits;
  for (Limit limit : config::kAllLimits) {
    for (const Place& place : places) {
      if (place.settings == nullptr || !place.settings->Get(limit)) continue;
      limits.by_limit_[static_cast<size_t>(limit)] =
          EffectiveLimit{&*place.settings->Get(limit), place.set_on, place.source};
      break;
    }
  }
  return limits;
}

std::vector<LimitEntry> ListLimits(const config::Config& config, const RuntimeLimits& runtime) {
  std::map<std::pair<std::string, Limit>, LimitEntry> entries;
  auto add = [&entries](const std::string& database, const LimitSettings& settings,
                        LimitSource source) {
    for (Limit limit : config::kAllLimits) {
      if (!settings.Get(limit)) continue;
      entries.insert_or_assign({database, limit},
                               LimitEntry{database, limit, *settings.Get(limit), source});
    }
  };
  for (const auto& [name, route] : config.databases) add(name, route.limits, LimitSource::kConfig);
  // After the config file's: a runtime value replaces it.
  for (const auto& [name, settings] : runtime.all()) add(name, settings, LimitSource::kRuntime);
  std::vector<LimitEntry> list;
  list.reserve(entries.size());
  for (auto& [key, entry] : entries) list.push_back(std::move(entry));
  return list;
}

}  // namespace pgvalve::admin
