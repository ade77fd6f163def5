#pragma once
// The limits a database's sessions are held to (query_timeout and its
// grace, idle_in_transaction_timeout, client_idle_timeout): their names and
// the settings an operator gives them, in the config file under
// [databases.NAME] or at runtime with SET db.limit on the admin console.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgvalve::config {

enum class Limit : uint8_t {
  kQueryTimeout,
  // How long a query may go on after query_timeout's cancel before its
  // backend is terminated. A setting of query_timeout, not a limit of its
  // own: it takes no exception list.
  kQueryTimeoutGrace,
  kIdleInTransactionTimeout,
  kClientIdleTimeout,
};

inline constexpr std::array<Limit, 4> kAllLimits = {
    Limit::kQueryTimeout, Limit::kQueryTimeoutGrace, Limit::kIdleInTransactionTimeout,
    Limit::kClientIdleTimeout};

// What applies when no query_timeout_grace is set anywhere.
inline constexpr std::chrono::milliseconds kDefaultQueryTimeoutGrace{5000};

// The name in the config file, on the admin console and in log lines.
constexpr std::string_view LimitName(Limit limit) {
  switch (limit) {
    case Limit::kQueryTimeout: return "query_timeout";
    case Limit::kQueryTimeoutGrace: return "query_timeout_grace";
    case Limit::kIdleInTransactionTimeout: return "idle_in_transaction_timeout";
    case Limit::kClientIdleTimeout: return "client_idle_timeout";
  }
  return "unknown";
}

// Exact, case-sensitive: "query_timeout" and nothing else.
std::optional<Limit> ParseLimitName(std::string_view name);

// Whether the limit takes an EXCEPT USER list.
constexpr bool TakesExceptions(Limit limit) { return limit != Limit::kQueryTimeoutGrace; }

struct LimitSetting {
  // Zero turns the limit off, which is how a database opts out of a "*"
  // value.
  std::chrono::milliseconds value{0};
  // Sessions of these users are never acted on.
  std::vector<std::string> except_users;

  bool operator==(const LimitSetting&) const = default;
};

// Which limits one database (or "*") sets; unset ones fall through to the
// next place a limit is looked up.
class LimitSettings {
 public:
  const std::optional<LimitSetting>& Get(Limit limit) const { return by_limit_[Index(limit)]; }
  void Set(Limit limit, LimitSetting setting) { by_limit_[Index(limit)] = std::move(setting); }
  // True if something was set.
  bool Clear(Limit limit) { return std::exchange(by_limit_[Index(limit)], std::nullopt).has_value(); }
  bool empty() const;

  bool operator==(const LimitSettings&) const = default;

 private:
  static constexpr size_t Index(Limit limit) { return static_cast<size_t>(limit); }
  std::array<std::optional<LimitSetting>, kAllLimits.size()> by_limit_;
};

}  // namespace pgvalve::config
