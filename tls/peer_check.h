#pragma once
// What a TLS client checks of the server it reached, per connection: the
// name it asked for. For a client whose one context serves several
// servers (etcd's endpoints), where the context cannot carry the name.

#include <openssl/ssl.h>

#include <string>

#include "absl/status/status.h"

namespace pgvalve::tls {

// Whether `host` is an IPv4 or IPv6 address, as OpenSSL reads one.
bool IsIpAddress(const std::string& host);

// Asks the handshake of `ssl` to accept only a certificate that names
// `host` (a DNS name, or an IP address in subjectAltName), and sends
// `host` as SNI when it is a name. Before the handshake.
absl::Status ExpectPeerName(SSL* ssl, const std::string& host);

// Why the server's certificate was refused ("hostname mismatch",
// "unable to get local issuer certificate"), or "" when it was not.
std::string PeerRefusal(const SSL* ssl);

}  // namespace pgvalve::tls
