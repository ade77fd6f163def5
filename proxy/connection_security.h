#pragma once

namespace pgvalve::proxy {

// What a connection's transport proved about the client, as access rules
// (tls = "required" | "client_cert") and SHOW CLIENTS need it.
struct ConnectionSecurity {
  // The client speaks to pgvalve over TLS.
  bool tls = false;
  // ... and presented a certificate that client_tls_ca_file verified.
  bool client_certificate = false;
};

}  // namespace pgvalve::proxy
