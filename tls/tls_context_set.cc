#include "tls/tls_context_set.h"

#include "absl/strings/str_cat.h"

namespace pgvalve::tls {

absl::StatusOr<std::shared_ptr<const TlsContextSet>> TlsContextSet::Build(const config::Config& config) {
  auto set = std::make_shared<TlsContextSet>();
  if (config.proxy.tls.enabled()) {
    absl::StatusOr<ContextPtr> context = MakeServerContext(config.proxy.tls, "proxy");
    if (!context.ok()) return context.status();
    set->proxy_ = *std::move(context);
  }
  if (config.admin.tls.enabled()) {
    absl::StatusOr<ContextPtr> context = MakeServerContext(config.admin.tls, "admin");
    if (!context.ok()) return context.status();
    set->admin_ = *std::move(context);
  }
  if (config.http.tls && config.admin.tls.enabled()) {
    absl::StatusOr<ContextPtr> context = MakeServerContext(config.admin.tls, "admin", ServedProtocol::kHttp);
    if (!context.ok()) return context.status();
    set->http_ = *std::move(context);
  }
  for (const auto& [name, upstream] : config.upstreams) {
    if (!upstream.tls.enabled() || upstream.host.starts_with('/')) continue;
    absl::StatusOr<ContextPtr> context =
        MakeClientContext(upstream.tls, upstream.host, absl::StrCat("upstreams.", name));
    if (!context.ok()) return context.status();
    set->upstreams_.emplace(name, *std::move(context));
  }
  return set;
}

SSL_CTX* TlsContextSet::upstream(std::string_view name) const {
  auto found = upstreams_.find(name);
  return found == upstreams_.end() ? nullptr : found->second.get();
}

}  // namespace pgvalve::tls
