#pragma once
// The services every session shares, owned by the ProxyServer.

#include <exception>
#include <functional>
#include <memory>
#include <mutex>

#include "config/config.h"
#include "proxy/access_control.h"
#include "proxy/admission_hold.h"
#include "proxy/cancel_key_map.h"
#include "proxy/cancel_routes.h"
#include "proxy/database_registry.h"
#include "proxy/log_rate_limiter.h"
#include "proxy/proxy_events.h"
#include "proxy/session_registry.h"
#include "tls/tls_context_set.h"

namespace pgvalve::proxy {

// The current configuration and the TLS contexts built from it. A reload
// swaps in a whole new pair; sessions keep the snapshot they started with.
class ConfigHolder {
 public:
  // No TLS contexts until SetTls: building them reads files, which start-up
  // does when it can report an error.
  explicit ConfigHolder(config::Config initial)
      : current_(std::make_shared<const config::Config>(std::move(initial))),
        tls_(std::make_shared<const tls::TlsContextSet>()) {}

  std::shared_ptr<const config::Config> Current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  std::shared_ptr<const tls::TlsContextSet> Tls() const {
    std::lock_guard lock(mutex_);
    return tls_;
  }
  // Both at once, from the same reload.
  struct Snapshot {
    std::shared_ptr<const config::Config> config;
    std::shared_ptr<const tls::TlsContextSet> tls;
  };
  Snapshot Both() const {
    std::lock_guard lock(mutex_);
    return {current_, tls_};
  }
  void SetTls(std::shared_ptr<const tls::TlsContextSet> tls) {
    std::lock_guard lock(mutex_);
    tls_ = std::move(tls);
  }
  void Replace(config::Config next, std::shared_ptr<const tls::TlsContextSet> tls) {
    auto replacement = std::make_shared<const config::Config>(std::move(next));
    std::lock_guard lock(mutex_);
    current_ = std::move(replacement);
    tls_ = std::move(tls);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const config::Config> current_;
  std::shared_ptr<const tls::TlsContextSet> tls_;
};

// One per ProxyServer; sessions keep a reference to it, not a copy.
struct ProxyContext {
  ConfigHolder& config;
  SessionRegistry& sessions;
  CancelKeyMap& cancel_keys;
  // Within a fleet: the other instances, for cancel requests they minted.
  const CancelRoutes& cancel_routes;
  DatabaseRegistry& databases;
  // The log line of a cancel request that matched no session: a flood of
  // them must not become a flood of log lines.
  LogRateLimiter& bogus_cancel_log;
  // Decides on each StartupMessage who may go further.
  AccessControl& access;
  // Held while new sessions must wait (a fleet member before its first
  // read of the shared state).
  const AdmissionHold& admission;
  // Refusals, pgvalve's own errors, cancels and upstream connections, for
  // /metrics.
  ProxyEvents& events;
  // Told once per session, when its connection is closed, of the
  // unexpected error that ended it, if one did.
  std::function<void(std::exception_ptr)> session_ended;
};

}  // namespace pgvalve::proxy
