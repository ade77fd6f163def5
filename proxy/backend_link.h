#pragma once
// One connection to an upstream backend and what pgvalve learned about it:
// its key and the parameters it reported. Kept apart from the client side so
// that pooling can later hand a backend from one client to another.

#include <optional>
#include <string>

#include "proxy/byte_stream.h"
#include "proxy/cancel_key_map.h"
#include "proxy/parameter_set.h"
#include "proxy/upstream_connector.h"

namespace pgvalve::proxy {

struct BackendLink {
  BackendLink(std::string upstream_name, UpstreamConnection connection)
      : upstream_name(std::move(upstream_name)),
        stream(std::move(connection.stream)),
        endpoint(std::move(connection.endpoint)) {}

  std::string upstream_name;
  ByteStream stream;
  UpstreamEndpoint endpoint;
  // The server's own BackendKeyData, once sent.
  std::optional<BackendKey> key;
  // ParameterStatus values as last reported (server_version, TimeZone, ...).
  ParameterSet parameters;
};

}  // namespace pgvalve::proxy
