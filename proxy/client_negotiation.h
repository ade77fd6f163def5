#pragma once
// The first packets of a client connection, before its StartupMessage:
// SSLRequest answered 'S' and a TLS handshake, or 'N'; GSSENCRequest always
// 'N'; a connection whose first byte is a TLS ClientHello handshaken at
// once (PostgreSQL 17's sslnegotiation=direct), which must then name
// "postgresql" by ALPN. Shared by the proxy and the admin console, each
// with its own TLS policy.

#include <openssl/ssl.h>

#include <chrono>
#include <optional>
#include <string_view>

#include "config/tls_settings.h"
#include "proxy/asio.h"
#include "proxy/byte_stream.h"
#include "proxy/connection_security.h"
#include "proxy/proxy_events.h"
#include "proxy/startup_reader.h"

namespace pgvalve::proxy {

struct ClientTlsPolicy {
  SSL_CTX* context = nullptr;  // null: TLS off, every SSLRequest answered 'N'
  config::ClientTlsMode mode = config::ClientTlsMode::kDisable;
};

// The StartupMessage or CancelRequest that follows the negotiation, with
// `security` set to what the transport proved; nullopt when the connection
// is over (a client that left or was too slow, a bad packet, a failed
// handshake, a plain client where TLS is required: each answered as
// PostgreSQL would and logged under `client`). `events`, when set, counts
// the errors it sends and a refusal for want of TLS.
Awaitable<std::optional<ReceivedStartupPacket>> NegotiateStartup(ByteStream& stream, ClientTlsPolicy policy,
                                                                 std::chrono::steady_clock::time_point deadline,
                                                                 std::string client, ConnectionSecurity& security,
                                                                 ProxyEvents* events);

}  // namespace pgvalve::proxy
