#include "admin/console/admin_credentials.h"

#include <spdlog/spdlog.h>

#include "proxy/status_text.h"

namespace pgvalve::admin {

const ScramCredential* AdminCredentials::Find(const std::shared_ptr<const config::Config>& config,
                                              const std::string& user) {
  if (config != derived_for_) {
    credentials_.clear();
    for (const auto& admin_user : config->admin.users) {
      absl::StatusOr<ScramCredential> credential = CredentialFromConfig(admin_user.password);
      if (!credential.ok()) {
        spdlog::error("admin user \"{}\" cannot log in: {}", admin_user.name,
                      proxy::StatusText(credential.status()));
        continue;
      }
      credentials_.emplace(admin_user.name, *std::move(credential));
    }
    derived_for_ = config;
  }
  auto found = credentials_.find(user);
  return found == credentials_.end() ? nullptr : &found->second;
}

}  // namespace pgvalve::admin
