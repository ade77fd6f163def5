#pragma once
// One connection to an upstream backend and what pgvalve learned about it:
// whether it sent its key (which the session record and the cancel-key map
// keep). Kept apart from the client side so that a relay can hand its
// backend over and take another (Relay::ReleaseBackendWhenIdle), the seam
// pooling will use.

#include <memory>
#include <string>

#include "proxy/byte_stream.h"
#include "proxy/upstream_connector.h"

namespace pgvalve::proxy {

struct BackendLink {
  BackendLink(std::string upstream_name, UpstreamConnection connection)
      : upstream_name(std::move(upstream_name)),
        stream(std::move(connection.stream)),
        endpoint(SharedEndpoint(std::move(connection.endpoint))) {}

  std::string upstream_name;
  ByteStream stream;
  // Shared with the BackendKeys made of it (cancel_key_map.h) and with
  // other sessions on the same endpoint.
  std::shared_ptr<const UpstreamEndpoint> endpoint;
  // Set at the server's BackendKeyData: a second one breaks the protocol.
  bool key_received = false;
};

}  // namespace pgvalve::proxy
