#pragma once
// The admin users' SCRAM credentials, derived once per configuration.
// Deriving them per login would cost a key derivation for every attempt
// and, for plain-text passwords, give each attempt a new salt, while an
// unknown user's fake salt stays the same: connecting twice would tell
// which users exist.

#include <map>
#include <memory>
#include <string>

#include "admin/console/scram_authenticator.h"
#include "config/config.h"

namespace pgvalve::admin {

// Used on the control thread only.
class AdminCredentials {
 public:
  // The credential of `user` under `config`; nullptr for an unknown user.
  const ScramCredential* Find(const std::shared_ptr<const config::Config>& config,
                              const std::string& user);

 private:
  std::shared_ptr<const config::Config> derived_for_;
  std::map<std::string, ScramCredential, std::less<>> credentials_;
};

}  // namespace pgvalve::admin
