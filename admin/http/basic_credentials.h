#pragma once
// The credentials of an HTTP Authorization header with the basic scheme
// (RFC 7617). Parsing only: http_authenticator.h checks them.

#include <optional>
#include <string>
#include <string_view>

namespace pgvalve::admin {

struct BasicCredentials {
  std::string user;
  std::string password;
};

// The user and password of an Authorization header's value, "Basic "
// followed by the base64 of "user:password"; nullopt for anything else.
// The scheme name is case-insensitive, as HTTP's are.
std::optional<BasicCredentials> ParseBasicAuthorization(std::string_view header);

}  // namespace pgvalve::admin
