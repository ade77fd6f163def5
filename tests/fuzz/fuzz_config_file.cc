// Fuzzes the configuration file's loader: toml11's parse, the typed reads
// of toml_reader and Validate, through ParseConfigText and ReadConfigText.
// Input: the text of a pgvalve.toml.
//
// Besides not crashing:
//   - every error names its place: "fuzz.toml:LINE: syntax error: ..." with
//     a line inside the text, or "fuzz.toml: KEY.PATH: what" with a key path;
//   - ParseConfigText accepts only what ReadConfigText accepts;
//   - an accepted Config keeps Validate's rules: it validates again, every
//     route's upstream exists, names equal their keys, ports and timeouts
//     are in range, there is somewhere to listen, admin user names are unique.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "config/config.h"
#include "config/config_file.h"
#include "config/validate.h"
#include "tests/fuzz/fuzz_check.h"

namespace pgvalve::fuzz {
namespace {

constexpr std::string_view kSource = "fuzz.toml";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

void CheckError(const absl::Status& status, std::string_view text) {
  PGVALVE_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  std::string_view message = MessageOf(status);
  PGVALVE_FUZZ_CHECK(message.starts_with(kSource) && message.substr(kSource.size()).starts_with(":"));
  message.remove_prefix(kSource.size() + 1);
  if (!message.empty() && IsDigit(message[0])) {
    // A syntax error at a line of the text (1-based; one past the last
    // line when the text ends inside a construct).
    size_t line = 0;
    size_t digits = 0;
    while (digits < message.size() && IsDigit(message[digits])) {
      line = std::min<size_t>(line * 10 + static_cast<size_t>(message[digits] - '0'), SIZE_MAX / 20);
      ++digits;
    }
    const size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    PGVALVE_FUZZ_CHECK(line >= 1 && line <= lines + 1);
    PGVALVE_FUZZ_CHECK(message.substr(digits).starts_with(": syntax error: "));
    return;
  }
  // " KEY.PATH: what"
  PGVALVE_FUZZ_CHECK(message.starts_with(" "));
  message.remove_prefix(1);
  const size_t colon = message.find(": ");
  PGVALVE_FUZZ_CHECK(colon != std::string_view::npos && colon > 0);
  // A key path: a space only inside a quoted key (not "cannot parse").
  const std::string_view path = message.substr(0, colon);
  PGVALVE_FUZZ_CHECK(path.find(' ') == std::string_view::npos || path.find('"') != std::string_view::npos);
  PGVALVE_FUZZ_CHECK(colon + 2 < message.size());  // and says what is wrong
}

void CheckTimeout(config::Duration timeout) {
  PGVALVE_FUZZ_CHECK(timeout.count() > 0 && timeout <= config::kMaxDuration);
}

void CheckAccepted(config::Config config) {
  PGVALVE_FUZZ_CHECK(config.source == kSource);
  PGVALVE_FUZZ_CHECK(!config.proxy.listen.empty() || config.proxy.unix_socket_dir.has_value());
  std::set<std::string> addresses;
  for (const auto* list : {&config.proxy.listen, &config.admin.listen}) {
    for (const config::ListenAddress& address : *list) {
      PGVALVE_FUZZ_CHECK(address.port >= 1);
      PGVALVE_FUZZ_CHECK(addresses.insert(address.ToString()).second);
    }
  }
  PGVALVE_FUZZ_CHECK(config::kMaxMessageSizeRange.Contains(config.proxy.max_message_size));
  PGVALVE_FUZZ_CHECK(config::kWorkersRange.Contains(config.proxy.workers));
  PGVALVE_FUZZ_CHECK(config::kMaxClientConnectionsRange.Contains(config.proxy.max_client_connections));
  CheckTimeout(config.proxy.startup_timeout);
  CheckTimeout(config.proxy.hold_timeout);
  CheckTimeout(config.proxy.terminate_wait);
  std::set<std::string> users;
  for (const config::AdminUser& user : config.admin.users) {
    PGVALVE_FUZZ_CHECK(!user.name.empty() && !user.password.empty());
    PGVALVE_FUZZ_CHECK(users.insert(user.name).second);
  }
  for (const auto& [name, upstream] : config.upstreams) {
    PGVALVE_FUZZ_CHECK(!name.empty() && upstream.name == name);
    PGVALVE_FUZZ_CHECK(upstream.port >= 1);
    CheckTimeout(upstream.connect_timeout);
    PGVALVE_FUZZ_CHECK(!(upstream.control_password && upstream.control_passfile));
    PGVALVE_FUZZ_CHECK(upstream.control_user || (!upstream.control_password && !upstream.control_passfile));
  }
  PGVALVE_FUZZ_CHECK(!config.databases.empty());
  for (const auto& [name, route] : config.databases) {
    PGVALVE_FUZZ_CHECK(!name.empty() && route.name == name);
    PGVALVE_FUZZ_CHECK(config.upstreams.contains(route.upstream));
    PGVALVE_FUZZ_CHECK(config.UpstreamFor(name) == &config.upstreams.at(route.upstream));
  }
  PGVALVE_FUZZ_CHECK(config::Validate(config, kSource).ok());
}

}  // namespace
}  // namespace pgvalve::fuzz

extern "C" int PGVALVE_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace pgvalve;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<config::Config> read = config::ReadConfigText(text, fuzz::kSource);
  absl::StatusOr<config::Config> parsed = config::ParseConfigText(text, fuzz::kSource);
  if (!read.ok()) {
    fuzz::CheckError(read.status(), text);
    PGVALVE_FUZZ_CHECK(!parsed.ok() && parsed.status() == read.status());
    return 0;
  }
  if (!parsed.ok()) {
    fuzz::CheckError(parsed.status(), text);
    return 0;
  }
  fuzz::CheckAccepted(*std::move(parsed));
  return 0;
}
