#include "config/value_text.h"

#include <arpa/inet.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "config/config_error.h"
#include "config/string_views.h"

namespace pgvalve::config {
namespace {

constexpr std::string_view kDurationHint =
    R"(must be a duration such as "250ms", "5s", "2m" or "1h")";

struct DurationUnit {
  std::string_view suffix;
  int64_t milliseconds;
};

// Longest suffix first so "ms" is not read as "m" followed by garbage.
// "min" is accepted as the admin console spells minutes ("10min"), but
// FormatDuration, which tries the units from the end, prints "m".
constexpr std::array<DurationUnit, 5> kDurationUnits = {{
    {"min", 60 * 1000},
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
}};

bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

bool IsHostNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsAsciiDigit(c) ||
         c == '-' || c == '.' || c == '_';
}

bool IsIpv4(std::string_view host) {
  in_addr unused{};
  return inet_pton(AF_INET, std::string(host).c_str(), &unused) == 1;
}

bool IsIpv6(std::string_view host) {
  in6_addr unused{};
  return inet_pton(AF_INET6, std::string(host).c_str(), &unused) == 1;
}

absl::Status Invalid(std::string_view what) {
  return absl::InvalidArgumentError(AbslView(what));
}

// Splits "host:port" / "[v6]:port" and checks the port; the host is checked
// by CheckHost so that TOML `host = ...` values get the same rules.
absl::StatusOr<HostAndPort> SplitHostPort(std::string_view text,
                                          HostKind kind) {
  const std::string expected = absl::StrCat(
      kind == HostKind::kListen ? "expected ADDR:PORT" : "expected HOST:PORT",
      ", got ", Quoted(text));
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return Invalid(expected);
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!IsIpv6(host)) {
      return Invalid(absl::StrCat(Quoted(host),
                                  " in brackets is not an IPv6 address, got ",
                                  Quoted(text)));
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return Invalid(expected);
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    const bool socket_dir =
        kind == HostKind::kUpstream && !host.empty() && host.front() == '/';
    if (!socket_dir && host.find(':') != std::string_view::npos) {
      return Invalid(absl::StrCat(
          "IPv6 addresses need brackets, as in \"[::1]:6432\", got ",
          Quoted(text)));
    }
  }
  if (host.empty() || port.empty()) return Invalid(expected);
  const std::optional<int64_t> number = ParseDecimal(port);
  if (!number) return Invalid(expected);
  if (*number < 1 || *number > 65535) {
    return Invalid(
        absl::StrCat("port must be between 1 and 65535, got ", Quoted(text)));
  }
  if (absl::Status host_ok = CheckHost(host, kind); !host_ok.ok()) {
    return Invalid(absl::StrCat(host_ok.message(), " in ", Quoted(text)));
  }
  return HostAndPort{std::string(host), static_cast<uint16_t>(*number)};
}

}  // namespace

std::optional<int64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), IsAsciiDigit)) {
    return std::nullopt;
  }
  int64_t value = 0;
  for (char c : text) {
    const int digit = c - '0';
    if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) {
      return std::nullopt;
    }
    value = value * 10 + digit;
  }
  return value;
}

absl::StatusOr<Duration> ParseDuration(std::string_view text) {
  const auto bad = [&] {
    return Invalid(
        absl::StrCat(AbslView(kDurationHint), ", got ", Quoted(text)));
  };
  for (const DurationUnit& unit : kDurationUnits) {
    if (text.size() <= unit.suffix.size() || !text.ends_with(unit.suffix)) {
      continue;
    }
    const std::string_view digits =
        text.substr(0, text.size() - unit.suffix.size());
    const std::optional<int64_t> count = ParseDecimal(digits);
    if (!count) {
      // "5xs" ends with "s" but is no number of seconds; other units
      // cannot match either, since digits never end in a letter.
      return bad();
    }
    if (*count > std::numeric_limits<int64_t>::max() / unit.milliseconds) {
      return Invalid(
          absl::StrCat("duration ", Quoted(text), " is out of range"));
    }
    return Duration(*count * unit.milliseconds);
  }
  return bad();
}

std::string FormatDuration(Duration duration) {
  const int64_t ms = duration.count();
  if (ms != 0) {
    for (auto unit = kDurationUnits.rbegin(); unit != kDurationUnits.rend();
         ++unit) {
      if (ms % unit->milliseconds == 0) {
        return absl::StrCat(ms / unit->milliseconds, AbslView(unit->suffix));
      }
    }
  }
  return absl::StrCat(ms, "ms");
}

absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text) {
  absl::StatusOr<HostAndPort> parts = SplitHostPort(text, HostKind::kListen);
  if (!parts.ok()) return parts.status();
  return ListenAddress{std::move(parts->host), parts->port};
}

absl::StatusOr<HostAndPort> ParseUpstreamAddress(std::string_view text) {
  return SplitHostPort(text, HostKind::kUpstream);
}

absl::Status CheckHost(std::string_view host, HostKind kind) {
  if (host.empty()) return Invalid("host must not be empty");
  if (host.front() == '/') {
    if (kind == HostKind::kUpstream) return absl::OkStatus();
    return Invalid(absl::StrCat(Quoted(host),
                                " is a path; use unix_socket_dir for unix "
                                "sockets"));
  }
  if (host.find(':') != std::string_view::npos) {
    if (IsIpv6(host)) return absl::OkStatus();
    return Invalid(absl::StrCat(Quoted(host), " is not a valid IPv6 address"));
  }
  const bool numeric = std::all_of(host.begin(), host.end(), [](char c) {
    return IsAsciiDigit(c) || c == '.';
  });
  if (numeric) {
    if (IsIpv4(host)) return absl::OkStatus();
    return Invalid(absl::StrCat(Quoted(host), " is not a valid IPv4 address"));
  }
  // 253 is the longest name DNS can carry in text form (RFC 1035).
  if (host.size() > 253 ||
      !std::all_of(host.begin(), host.end(), IsHostNameChar)) {
    return Invalid(absl::StrCat(Quoted(host), " is not a valid host name"));
  }
  return absl::OkStatus();
}

std::optional<AdminRole> ParseAdminRole(std::string_view text) {
  if (text == "admin") return AdminRole::kAdmin;
  if (text == "monitor") return AdminRole::kMonitor;
  return std::nullopt;
}

std::string_view AdminRoleName(AdminRole role) {
  switch (role) {
    case AdminRole::kAdmin:
      return "admin";
    case AdminRole::kMonitor:
      return "monitor";
  }
  return "unknown";
}

bool IsLogLevel(std::string_view text) {
  return std::find(kLogLevels.begin(), kLogLevels.end(), text) !=
         kLogLevels.end();
}

}  // namespace pgvalve::config
