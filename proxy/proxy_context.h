#pragma once
// The services every session shares, owned by the ProxyServer.

#include <memory>
#include <mutex>

#include "config/config.h"
#include "proxy/access_control.h"
#include "proxy/cancel_key_map.h"
#include "proxy/database_registry.h"
#include "proxy/log_rate_limiter.h"
#include "proxy/session_registry.h"

namespace pgvalve::proxy {

// The current configuration. A reload swaps in a whole new Config; sessions
// keep the snapshot they started with.
class ConfigHolder {
 public:
  explicit ConfigHolder(config::Config initial)
      : current_(std::make_shared<const config::Config>(std::move(initial))) {}

  std::shared_ptr<const config::Config> Current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void Replace(config::Config next) {
    auto replacement = std::make_shared<const config::Config>(std::move(next));
    std::lock_guard lock(mutex_);
    current_ = std::move(replacement);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const config::Config> current_;
};

struct ProxyContext {
  ConfigHolder& config;
  SessionRegistry& sessions;
  CancelKeyMap& cancel_keys;
  DatabaseRegistry& databases;
  // The log line of a cancel request that matched no session: a flood of
  // them must not become a flood of log lines.
  LogRateLimiter& bogus_cancel_log;
  // Decides on each StartupMessage who may go further.
  AccessControl& access;
};

}  // namespace pgvalve::proxy
