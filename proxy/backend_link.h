#pragma once
// One connection to an upstream backend and what pgvalve learned about it:
// whether it sent its key (which the session record and the cancel-key map
// keep) and the parameters it reported. Kept apart from the client side so
// that pooling can later hand a backend from one client to another.

#include <string>

#include "proxy/byte_stream.h"
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
  // Set at the server's BackendKeyData: a second one breaks the protocol.
  bool key_received = false;
  // ParameterStatus values as last reported (server_version, TimeZone, ...).
  ParameterSet parameters;
};

}  // namespace pgvalve::proxy
