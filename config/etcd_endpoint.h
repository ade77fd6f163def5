#pragma once
// An etcd endpoint as [fleet] etcd_endpoints names it: read here, so the
// configuration refuses a wrong one at load, and used by fleet/'s client.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace pgvalve::config {

struct EtcdEndpoint {
  std::string host;
  uint16_t port = 0;
  // https: TLS, etcd's certificate checked against `host`.
  bool tls = false;

  std::string ToString() const;
};

// "http://host:port" or "https://host:port" (or "host:port", "[v6]:port",
// which are http), as etcd's clients name an endpoint.
absl::StatusOr<EtcdEndpoint> ParseEtcdEndpoint(std::string_view url);

}  // namespace pgvalve::config
