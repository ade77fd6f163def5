#pragma once
// TLS settings of the two legs, as data. The names and meanings are
// PgBouncer's for the client leg and libpq's sslmode for the server leg, so
// operators coming from either find what they know. The OpenSSL contexts
// built from them live in tls/ and are rebuilt on every reload.

#include <optional>
#include <string>
#include <string_view>

namespace pgvalve::config {

// What pgvalve asks of its clients (PgBouncer's client_tls_sslmode).
enum class ClientTlsMode {
  kDisable,  // every SSLRequest is answered 'N'
  kAllow,    // TLS if the client asks
  kPrefer,   // the same, for a client: a server cannot ask first
  kRequire,  // a client that did not ask for TLS is refused (28000)
  kVerifyCa,    // ... and must present a certificate client_tls_ca_file verifies
  kVerifyFull,  // the same (PgBouncer's meaning: no name to check a client against)
};

// What pgvalve asks of an upstream server (libpq's sslmode).
enum class ServerTlsMode {
  kDisable,
  kAllow,    // plain first; TLS only if the server refuses the plain session (28000)
  kPrefer,   // TLS if the server offers it
  kRequire,  // TLS or no connection; the certificate is checked only against server_tls_ca_file if set
  kVerifyCa,    // the certificate must chain to server_tls_ca_file
  kVerifyFull,  // ... and name the upstream's host
};

enum class TlsVersion { kTls12, kTls13 };

struct ClientTlsSettings {
  ClientTlsMode mode = ClientTlsMode::kDisable;
  std::optional<std::string> cert_file;
  std::optional<std::string> key_file;
  // Set: clients are asked for a certificate, which must chain to it
  // (optional below verify-ca, so that access rules can tell the two apart).
  std::optional<std::string> ca_file;
  // client_tls_protocols: "secure" (TLS 1.2 and 1.3), or a list.
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
  // OpenSSL cipher strings: TLS 1.2 ciphers and TLS 1.3 ciphersuites;
  // "default" keeps OpenSSL's.
  std::string ciphers = "default";
  std::string tls13_ciphers = "default";

  bool enabled() const { return mode != ClientTlsMode::kDisable; }
  bool operator==(const ClientTlsSettings&) const = default;
};

struct ServerTlsSettings {
  ServerTlsMode mode = ServerTlsMode::kDisable;
  std::optional<std::string> ca_file;
  std::optional<std::string> cert_file;  // a client certificate for pgvalve
  std::optional<std::string> key_file;

  bool enabled() const { return mode != ServerTlsMode::kDisable; }
  bool operator==(const ServerTlsSettings&) const = default;
};

std::optional<ClientTlsMode> ParseClientTlsMode(std::string_view text);
std::optional<ServerTlsMode> ParseServerTlsMode(std::string_view text);
std::string_view Name(ClientTlsMode mode);
std::string_view Name(ServerTlsMode mode);
std::string_view Name(TlsVersion version);

// "secure", "all", or versions separated by commas, spaces or colons
// ("tlsv1.2,tlsv1.3"); the versions named must be adjacent. TLS 1.0 and 1.1
// are refused: OpenSSL 3's default security level rejects them anyway.
struct TlsVersionRange {
  TlsVersion min;
  TlsVersion max;
};
std::optional<TlsVersionRange> ParseTlsProtocols(std::string_view text, std::string& error);

}  // namespace pgvalve::config
