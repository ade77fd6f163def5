#include "config/config.h"

#include "absl/strings/str_cat.h"

namespace pgvalve::config {

std::string ListenAddress::ToString() const {
  // Only an IPv6 literal contains ':'; brackets keep its port unambiguous.
  if (host.find(':') != std::string::npos) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

const UpstreamConfig* Config::UpstreamFor(std::string_view database) const {
  auto route = databases.find(std::string(database));
  if (route == databases.end()) route = databases.find("*");
  if (route == databases.end()) return nullptr;
  const auto upstream = upstreams.find(route->second.upstream);
  return upstream == upstreams.end() ? nullptr : &upstream->second;
}

}  // namespace pgvalve::config
