#include "config/etcd_endpoint.h"

#include <charconv>
#include <initializer_list>

namespace pgvalve::config {
namespace {

// Debian's abseil has a string_view of its own, which StrCat wants.
std::string Text(std::initializer_list<std::string_view> parts) {
  std::string text;
  for (std::string_view part : parts) text.append(part);
  return text;
}

}  // namespace

std::string EtcdEndpoint::ToString() const { return host + ":" + std::to_string(port); }

absl::StatusOr<EtcdEndpoint> ParseEtcdEndpoint(std::string_view url) {
  std::string_view rest = url;
  EtcdEndpoint endpoint;
  if (rest.starts_with("https://")) {
    endpoint.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(
        Text({"etcd endpoint \"", url, "\" is not http://HOST:PORT or https://HOST:PORT"}));
  }
  std::string_view host = rest.substr(0, colon);
  // "[::1]:2379": an IPv6 address in brackets.
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string_view port = rest.substr(colon + 1);
  unsigned value = 0;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (error != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
    return absl::InvalidArgumentError(Text({"etcd endpoint \"", url, "\" has no valid port"}));
  }
  endpoint.host = std::string(host);
  endpoint.port = static_cast<uint16_t>(value);
  return endpoint;
}

}  // namespace pgvalve::config
