#pragma once
// The text forms of single configuration values, shared by the TOML reader
// and the command line so both accept exactly the same spellings. Errors
// carry only the "what"; callers prefix the key path or flag name.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/config.h"

namespace pgvalve::config {

// "250ms", "5s", "2m" (or "2min"), "1h": a non-negative integer and a unit. Whether the
// value is in range is Validate's business.
absl::StatusOr<Duration> ParseDuration(std::string_view text);

// The shortest exact spelling: 5000ms -> "5s", 1500ms -> "1500ms".
std::string FormatDuration(Duration duration);

// "host:port" or "[ipv6]:port"; the port must be 1-65535.
absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text);

struct HostAndPort {
  std::string host;
  uint16_t port = 0;
};

// As ParseListenAddress, but the host may also be a unix-socket directory
// ("/var/run/postgresql:5432"), as libpq allows for upstreams.
absl::StatusOr<HostAndPort> ParseUpstreamAddress(std::string_view text);

enum class HostKind { kListen, kUpstream };

// A numeric IPv4/IPv6 address or a DNS name; for kUpstream also an absolute
// unix-socket directory.
absl::Status CheckHost(std::string_view host, HostKind kind);

std::optional<AdminRole> ParseAdminRole(std::string_view text);
std::string_view AdminRoleName(AdminRole role);

inline constexpr std::array<const char*, 5> kLogLevels = {
    "trace", "debug", "info", "warn", "error"};
bool IsLogLevel(std::string_view text);

// Only ASCII digits: SimpleAtoi would also take signs and blanks, which are
// never intended in a port or a count.
std::optional<int64_t> ParseDecimal(std::string_view text);

}  // namespace pgvalve::config
