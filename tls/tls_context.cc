#include "tls/tls_context.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <array>

#include "absl/strings/str_cat.h"
#include "tls/openssl_error.h"
#include "tls/peer_check.h"

namespace pgvalve::tls {
namespace {

using config::ClientTlsMode;
using config::ServerTlsMode;
using config::TlsVersion;

// ALPN's wire form: each protocol name preceded by its length.
constexpr std::array<unsigned char, 11> kAlpnWire = {10, 'p', 'o', 's', 't', 'g', 'r', 'e', 's', 'q', 'l'};
constexpr std::array<unsigned char, 9> kHttp11Wire = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

int ProtocolVersion(TlsVersion version) { return version == TlsVersion::kTls12 ? TLS1_2_VERSION : TLS1_3_VERSION; }

absl::Status Failure(const std::string& where, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what, ": ", TakeOpenSslErrors()));
}

// A key file with a passphrase would make OpenSSL prompt on the terminal;
// refusing makes it an error to report instead.
int NoPassphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return 0; }

// What every context of pgvalve's shares: buffers released while idle (an
// idle session would otherwise keep two 16 KiB record buffers), writes that
// may complete one record at a time and be retried from a moved buffer, as
// a relay pump does, a peer closing without close_notify read as an end of
// stream (libpq does not send one), and reads ahead: a record then costs
// one read from the socket instead of two (its header, then the rest), and
// several records that arrived together cost one.
void SetCommonModes(SSL_CTX* context) {
  SSL_CTX_set_read_ahead(context, 1);
  SSL_CTX_set_mode(context,
                   SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(context, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_default_passwd_cb(context, NoPassphrase);
}

absl::Status LoadKeyPair(SSL_CTX* context, const std::string& cert_file, const std::string& key_file,
                         const std::string& where) {
  if (SSL_CTX_use_certificate_chain_file(context, cert_file.c_str()) != 1) {
    return Failure(where, absl::StrCat("cannot load certificate \"", cert_file, "\""));
  }
  if (SSL_CTX_use_PrivateKey_file(context, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Failure(where, absl::StrCat("cannot load private key \"", key_file, "\""));
  }
  if (SSL_CTX_check_private_key(context) != 1) {
    return Failure(where,
                   absl::StrCat("private key \"", key_file, "\" does not match certificate \"", cert_file, "\""));
  }
  return absl::OkStatus();
}

absl::Status LoadCa(SSL_CTX* context, const std::string& ca_file, const std::string& where) {
  if (SSL_CTX_load_verify_locations(context, ca_file.c_str(), nullptr) != 1) {
    return Failure(where, absl::StrCat("cannot load CA file \"", ca_file, "\""));
  }
  return absl::OkStatus();
}

// Chooses "postgresql" when the client offers it. A client offering only
// other protocols is refused, as PostgreSQL 17 refuses it; one offering
// none is let through here and judged by the caller, which knows whether
// the connection began with an SSLRequest (ALPN optional) or directly
// (ALPN required).
int SelectAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_length, const unsigned char* offered,
               unsigned int offered_length, void* /*arg*/) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, kAlpnWire.data(), kAlpnWire.size(), offered, offered_length) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// HTTP/1.1 is all the endpoint serves: chosen when offered; a client that
// offers only h2 gets no ALPN answer and may still speak HTTP/1.1.
int SelectHttpAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_length, const unsigned char* offered,
                   unsigned int offered_length, void* /*arg*/) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, kHttp11Wire.data(), kHttp11Wire.size(), offered,
                            offered_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

absl::StatusOr<ContextPtr> MakeServerContext(const config::ClientTlsSettings& settings,
                                             std::string_view section_name, ServedProtocol protocol) {
  const std::string section(section_name);
  ERR_clear_error();
  ContextPtr context(SSL_CTX_new(TLS_server_method()));
  if (!context) return Failure(section, "cannot create a TLS context");
  SSL_CTX* ctx = context.get();
  SetCommonModes(ctx);
  // No session resumption: clients of a database open long sessions, and
  // tickets would cost every handshake two more messages and their CPU.
  // (PostgreSQL turns them off too.)
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_min_proto_version(ctx, ProtocolVersion(settings.min_version));
  SSL_CTX_set_max_proto_version(ctx, ProtocolVersion(settings.max_version));
  if (settings.ciphers != "default" && SSL_CTX_set_cipher_list(ctx, settings.ciphers.c_str()) != 1) {
    return Failure(section, absl::StrCat("client_tls_ciphers \"", settings.ciphers, "\" names no usable cipher"));
  }
  if (settings.tls13_ciphers != "default" && SSL_CTX_set_ciphersuites(ctx, settings.tls13_ciphers.c_str()) != 1) {
    return Failure(
        section, absl::StrCat("client_tls13_ciphers \"", settings.tls13_ciphers, "\" names no usable ciphersuite"));
  }
  if (settings.cert_file && settings.key_file) {
    if (absl::Status loaded = LoadKeyPair(ctx, *settings.cert_file, *settings.key_file, section); !loaded.ok()) {
      return loaded;
    }
  }
  if (settings.ca_file) {
    if (absl::Status loaded = LoadCa(ctx, *settings.ca_file, section); !loaded.ok()) return loaded;
    // The CA names sent with the certificate request guide a client with
    // several certificates to the right one.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.ca_file->c_str())) {
      SSL_CTX_set_client_CA_list(ctx, names);
    }
    const bool required = settings.mode == ClientTlsMode::kVerifyCa || settings.mode == ClientTlsMode::kVerifyFull;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nullptr);
  }
  SSL_CTX_set_alpn_select_cb(ctx, protocol == ServedProtocol::kHttp ? SelectHttpAlpn : SelectAlpn, nullptr);
  ERR_clear_error();
  return context;
}

absl::StatusOr<ContextPtr> MakeClientContext(const config::ServerTlsSettings& settings, const std::string& host,
                                             std::string_view path_name) {
  const std::string path(path_name);
  ERR_clear_error();
  ContextPtr context(SSL_CTX_new(TLS_client_method()));
  if (!context) return Failure(path, "cannot create a TLS context");
  SSL_CTX* ctx = context.get();
  SetCommonModes(ctx);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (settings.cert_file && settings.key_file) {
    if (absl::Status loaded = LoadKeyPair(ctx, *settings.cert_file, *settings.key_file, path); !loaded.ok()) {
      return loaded;
    }
  }
  // libpq's rule: with a root certificate, require verifies as verify-ca.
  if (settings.ca_file) {
    if (absl::Status loaded = LoadCa(ctx, *settings.ca_file, path); !loaded.ok()) return loaded;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (settings.mode == ServerTlsMode::kVerifyFull) {
    X509_VERIFY_PARAM* parameters = SSL_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_hostflags(parameters, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int set = IsIpAddress(host) ? X509_VERIFY_PARAM_set1_ip_asc(parameters, host.c_str())
                                      : X509_VERIFY_PARAM_set1_host(parameters, host.c_str(), host.size());
    if (set != 1) return Failure(path, absl::StrCat("cannot verify against host \"", host, "\""));
  }
  // PostgreSQL 17 checks it when sent; older servers ignore it.
  if (SSL_CTX_set_alpn_protos(ctx, kAlpnWire.data(), kAlpnWire.size()) != 0) {
    return Failure(path, "cannot set ALPN");
  }
  ERR_clear_error();
  return context;
}

absl::StatusOr<ContextPtr> MakeEtcdClientContext(const config::FleetSettings& settings) {
  const std::string where = "fleet";
  ERR_clear_error();
  ContextPtr context(SSL_CTX_new(TLS_client_method()));
  if (!context) return Failure(where, "cannot create a TLS context");
  SSL_CTX* ctx = context.get();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_default_passwd_cb(ctx, NoPassphrase);
  if (settings.etcd_cert_file && settings.etcd_key_file) {
    absl::Status loaded = LoadKeyPair(ctx, *settings.etcd_cert_file, *settings.etcd_key_file, where);
    if (!loaded.ok()) return loaded;
  }
  if (settings.etcd_ca_file) {
    if (absl::Status loaded = LoadCa(ctx, *settings.etcd_ca_file, where); !loaded.ok()) return loaded;
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return Failure(where, "cannot load the system's CA certificates");
  }
  // Always verified: etcd holds the kill switch's state, and a client
  // that accepts any certificate would take it from anyone in the path.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // etcd serves HTTP/1.1 beside gRPC's h2 on its client port; Go's TLS
  // server refuses a protocol it does not serve, so offer the one spoken.
  if (SSL_CTX_set_alpn_protos(ctx, kHttp11Wire.data(), kHttp11Wire.size()) != 0) {
    return Failure(where, "cannot set ALPN");
  }
  ERR_clear_error();
  return context;
}

}  // namespace pgvalve::tls
