#include "tls/peer_check.h"

#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "tls/openssl_error.h"

namespace pgvalve::tls {

bool IsIpAddress(const std::string& host) {
  // OpenSSL's own parser, so that what it accepts here is what it checks.
  ASN1_OCTET_STRING* parsed = a2i_IPADDRESS(host.c_str());
  if (parsed == nullptr) return false;
  ASN1_OCTET_STRING_free(parsed);
  return true;
}

absl::Status ExpectPeerName(SSL* ssl, const std::string& host) {
  X509_VERIFY_PARAM* parameters = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(parameters, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (IsIpAddress(host)) {
    // SNI carries names only (RFC 6066).
    if (X509_VERIFY_PARAM_set1_ip_asc(parameters, host.c_str()) == 1) return absl::OkStatus();
  } else if (SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 &&
             X509_VERIFY_PARAM_set1_host(parameters, host.c_str(), host.size()) == 1) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cannot verify against host \"", host, "\": ", TakeOpenSslErrors()));
}

std::string PeerRefusal(const SSL* ssl) {
  const long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return "";
  return X509_verify_cert_error_string(result);
}

}  // namespace pgvalve::tls
