#include "proxy/access_control.h"

#include <spdlog/spdlog.h>

#include "proxy/log_text.h"

namespace pgvalve::proxy {

AccessControl::AccessControl(const config::Config& config, uint32_t log_burst,
                             std::chrono::steady_clock::duration log_interval)
    : proxy_rules_(std::make_shared<AccessRuleSet>(AccessListener::kProxy, config.proxy.rules)),
      admin_rules_(std::make_shared<AccessRuleSet>(AccessListener::kAdmin, config.admin.rules)),
      refusal_log_("connections refused by access rules", log_burst, log_interval) {}

void AccessControl::Update(const config::Config& config) {
  // Built outside the lock from the sets in effect; only this thread
  // replaces them, so nothing changes them in between.
  const std::shared_ptr<const AccessRuleSet> proxy_before = Rules(AccessListener::kProxy);
  const std::shared_ptr<const AccessRuleSet> admin_before = Rules(AccessListener::kAdmin);
  auto proxy_next = std::make_shared<AccessRuleSet>(AccessListener::kProxy, config.proxy.rules,
                                                    proxy_before.get());
  auto admin_next = std::make_shared<AccessRuleSet>(AccessListener::kAdmin, config.admin.rules,
                                                    admin_before.get());
  std::lock_guard lock(mutex_);
  proxy_rules_ = std::move(proxy_next);
  admin_rules_ = std::move(admin_next);
}

std::shared_ptr<const AccessRuleSet> AccessControl::Rules(AccessListener listener) const {
  std::lock_guard lock(mutex_);
  return listener == AccessListener::kProxy ? proxy_rules_ : admin_rules_;
}

std::optional<std::string> AccessControl::Refusal(AccessListener listener, const ClientAddress& address,
                                                  const ConnectionSecurity& security,
                                                  std::string_view database, std::string_view user) {
  const std::shared_ptr<const AccessRuleSet> rules = Rules(listener);
  const AccessRequest request{
      .client_address = address.address, .security = security, .database = database, .user = user};
  const AccessRuleSet::Decision decision = rules->Evaluate(request);
  if (decision.allowed) return std::nullopt;
  std::string message = decision.rule ? RefusalMessage(request, rules->name(*decision.rule))
                                      : RefusalMessage(request, std::nullopt);
  LogRateLimiter::Decision log = refusal_log_.Admit();
  if (log.summary) spdlog::warn("{}", *log.summary);
  if (log.log) {
    spdlog::warn("client {}: refused by the {} listener's access rules: {}", address.ToString(),
                 ListenerName(listener), EscapeForLog(message));
  }
  return message;
}

}  // namespace pgvalve::proxy
