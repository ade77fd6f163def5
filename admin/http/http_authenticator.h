#pragma once
// HTTP basic authentication (RFC 7617) with the admin console's users and
// passwords: the same user may read /metrics that may log in with psql,
// with the rights of its role.

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "admin/console/admin_credentials.h"
#include "admin/console/scram_crypto.h"
#include "admin/http/basic_credentials.h"
#include "config/config.h"

namespace pgvalve::admin {

struct AuthenticatedUser {
  std::string name;
  config::AdminRole role = config::AdminRole::kMonitor;
};

// Control thread only, as AdminCredentials.
class HttpAuthenticator {
 public:
  explicit HttpAuthenticator(AdminCredentials& credentials) : credentials_(credentials) {}

  // The admin user `authorization` names, with its role, when its password
  // is right under `config`; nullopt otherwise, whatever was wrong.
  std::optional<AuthenticatedUser> Authenticate(const std::shared_ptr<const config::Config>& config,
                                                std::string_view authorization);

 private:
  bool PasswordMatches(const std::shared_ptr<const config::Config>& config, const BasicCredentials& credentials);

  AdminCredentials& credentials_;
  // Credentials that passed under `verified_for_`, as a digest of user and
  // password: a scraper sends the same ones every few seconds, and each
  // check from scratch is a key derivation (4,096 HMAC rounds).
  std::shared_ptr<const config::Config> verified_for_;
  std::set<ScramKey> verified_;
};

}  // namespace pgvalve::admin
