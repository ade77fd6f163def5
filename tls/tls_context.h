#pragma once
// Building OpenSSL contexts from configuration. A context is the read-in
// form of certificates, keys, CA files and protocol choices; every TLS
// connection made from it shares it. Building reads every file, so its
// errors (a missing key, a key that does not match its certificate) are
// reported at start-up and by RELOAD, never at a client's handshake.

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "config/tls_settings.h"

namespace pgvalve::tls {

struct ContextDeleter {
  void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};
using ContextPtr = std::unique_ptr<SSL_CTX, ContextDeleter>;

// The protocol name of ALPN (RFC 7301) that PostgreSQL 17 registered.
inline constexpr std::string_view kAlpnProtocol = "postgresql";

// What a server context's connections speak, which decides its ALPN.
enum class ServedProtocol {
  kPostgresql,  // "postgresql", or none (see SelectAlpn)
  kHttp,        // "http/1.1" when offered; otherwise none, never a refusal
};

// pgvalve as a TLS server, for its clients (the proxy, the admin console or
// the HTTP endpoint). `section` ("proxy", "admin") prefixes error messages.
absl::StatusOr<ContextPtr> MakeServerContext(const config::ClientTlsSettings& settings, std::string_view section,
                                             ServedProtocol protocol = ServedProtocol::kPostgresql);

// pgvalve as a TLS client of one upstream. `host` is the upstream's host:
// verify-full checks the certificate against it (a name or an address).
absl::StatusOr<ContextPtr> MakeClientContext(const config::ServerTlsSettings& settings, const std::string& host,
                                             std::string_view path);

// pgvalve as a TLS client of etcd ([fleet] etcd_*_file): etcd's
// certificate must chain to etcd_ca_file, or to the system's CAs without
// one. One context serves every endpoint, so the host is checked per
// connection (ExpectPeerName).
absl::StatusOr<ContextPtr> MakeEtcdClientContext(const config::FleetSettings& settings);

}  // namespace pgvalve::tls
