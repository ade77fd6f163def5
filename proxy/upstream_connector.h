#pragma once
// Opening connections to an upstream PostgreSQL server, with a deadline.
// A host starting with '/' is a unix-socket directory, as in libpq.

#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <string>
#include <variant>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "proxy/asio.h"
#include "proxy/byte_stream.h"

namespace pgvalve::proxy {

// The address a session's backend was reached at. Cancel requests must go
// to this same address, not to whatever the host name resolves to later.
using UpstreamEndpoint = std::variant<tcp::endpoint, unix_socket::endpoint>;

std::string Describe(const UpstreamEndpoint& endpoint);

// `endpoint` as an object sessions share (BackendLink, BackendKey): the
// same endpoint as the one this thread made last is that one again, so
// the sessions of an upstream share one copy instead of holding one each
// (a unix-socket endpoint alone is 128 bytes).
std::shared_ptr<const UpstreamEndpoint> SharedEndpoint(UpstreamEndpoint endpoint);

struct UpstreamConnection {
  ByteStream stream;
  UpstreamEndpoint endpoint;
};

// Resolves, connects and, as server_tls_sslmode asks, negotiates TLS with
// `tls_context` (the upstream's, from the same reload as `upstream`; null
// where TLS is off). The error names the upstream, its address and the
// operating system's or OpenSSL's reason, ready to be shown to a client.
// `retrying_in_tls`: server_tls_sslmode = allow's second attempt, after
// the server refused the first in plain text; TLS or nothing.
Awaitable<absl::StatusOr<UpstreamConnection>> ConnectUpstream(const config::UpstreamConfig& upstream,
                                                              SSL_CTX* tls_context, bool retrying_in_tls = false);

// Connects to a known endpoint (cancel requests).
Awaitable<absl::StatusOr<ByteStream>> ConnectEndpoint(const UpstreamEndpoint& endpoint,
                                                      std::chrono::milliseconds timeout);

}  // namespace pgvalve::proxy
