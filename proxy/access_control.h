#pragma once
// The access rules of both listeners as they are now, and the door they
// keep: a session asks once, on its StartupMessage, before pgvalve does
// anything else for it (no route lookup, no connection slot, no database
// state, no upstream connection). A refusal is logged, rate-limited as
// floods are, and counted on the rule that refused (SHOW RULES).
// Thread-safe: sessions ask from every worker, RELOAD updates from the
// control thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "proxy/access_rule_set.h"
#include "proxy/client_address.h"
#include "proxy/connection_security.h"
#include "proxy/log_rate_limiter.h"

namespace pgvalve::proxy {

class AccessControl {
 public:
  AccessControl(const config::Config& config, uint32_t log_burst,
                std::chrono::steady_clock::duration log_interval);

  // Takes the rules of a reloaded configuration; see AccessRuleSet for
  // which counts carry over.
  void Update(const config::Config& config);

  std::shared_ptr<const AccessRuleSet> Rules(AccessListener listener) const;

  // nullopt when the rules allow the client; otherwise the message of the
  // FATAL 28000 to send it.
  std::optional<std::string> Refusal(AccessListener listener, const ClientAddress& address,
                                     const ConnectionSecurity& security, std::string_view database,
                                     std::string_view user);

  // For the periodic flush of suppressed log lines.
  LogRateLimiter& refusal_log() { return refusal_log_; }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const AccessRuleSet> proxy_rules_;
  std::shared_ptr<const AccessRuleSet> admin_rules_;
  LogRateLimiter refusal_log_;
};

}  // namespace pgvalve::proxy
