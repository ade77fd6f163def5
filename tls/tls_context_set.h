#pragma once
// Every OpenSSL context one configuration calls for: the proxy's and the
// admin console's (pgvalve as a server) and one per upstream (pgvalve as a
// client). Built whole, at start-up and on every reload, so that a broken
// file leaves the contexts in use untouched; a new connection takes the set
// current when it starts, and a connection keeps its context for its life.

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "tls/tls_context.h"

namespace pgvalve::tls {

class TlsContextSet {
 public:
  // Reads every certificate, key and CA file `config` names.
  static absl::StatusOr<std::shared_ptr<const TlsContextSet>> Build(const config::Config& config);

  // Null where TLS is off: client_tls_sslmode = disable, or an upstream
  // whose server_tls_sslmode is disable or which is reached by unix socket
  // (where libpq does not use TLS either).
  SSL_CTX* proxy() const { return proxy_.get(); }
  SSL_CTX* admin() const { return admin_.get(); }
  // The HTTP endpoint's, from the admin console's settings; null unless
  // [http] tls is set.
  SSL_CTX* http() const { return http_.get(); }
  SSL_CTX* upstream(std::string_view name) const;

 private:
  ContextPtr proxy_;
  ContextPtr admin_;
  ContextPtr http_;
  std::map<std::string, ContextPtr, std::less<>> upstreams_;
};

}  // namespace pgvalve::tls
