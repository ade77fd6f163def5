#include "admin/http/http_authenticator.h"

#include <cstdint>
#include <span>
#include <vector>

#include "admin/console/scram_authenticator.h"

namespace pgvalve::admin {
namespace {

std::span<const uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// User and password with a separator no user name can hold, so that
// ("a:b", "c") and ("a", "b:c") differ.
ScramKey DigestOf(const BasicCredentials& credentials) {
  std::string joined = credentials.user;
  joined += '\0';
  joined += credentials.password;
  ScramKey digest = Sha256(Bytes(joined));
  Wipe({reinterpret_cast<uint8_t*>(joined.data()), joined.size()});
  return digest;
}

}  // namespace

std::optional<AuthenticatedUser> HttpAuthenticator::Authenticate(
    const std::shared_ptr<const config::Config>& config, std::string_view authorization) {
  std::optional<BasicCredentials> credentials = ParseBasicAuthorization(authorization);
  if (!credentials) return std::nullopt;
  const bool matches = PasswordMatches(config, *credentials);
  Wipe({reinterpret_cast<uint8_t*>(credentials->password.data()), credentials->password.size()});
  if (!matches) return std::nullopt;
  for (const auto& user : config->admin.users) {
    if (user.name == credentials->user) return AuthenticatedUser{.name = user.name, .role = user.role};
  }
  return std::nullopt;
}

bool HttpAuthenticator::PasswordMatches(const std::shared_ptr<const config::Config>& config,
                                        const BasicCredentials& credentials) {
  if (config != verified_for_) {
    verified_.clear();
    verified_for_ = config;
  }
  const ScramKey digest = DigestOf(credentials);
  if (verified_.contains(digest)) return true;

  const ScramCredential* known = credentials_.Find(config, credentials.user);
  // An unknown user costs the same derivation as a known one, so the time
  // an answer takes does not tell which users exist.
  static const std::vector<uint8_t> kUnknownUserSalt(16, 0x5a);
  const ScramCredential derived =
      DeriveScramCredential(credentials.password, known ? std::span<const uint8_t>(known->salt) : kUnknownUserSalt,
                            known ? known->iterations : kScramDefaultIterations);
  if (known == nullptr || !ConstantTimeEqual(derived.stored_key, known->stored_key)) return false;
  // At most one entry per admin user: only a right password is remembered.
  verified_.insert(digest);
  return true;
}

}  // namespace pgvalve::admin
