#include "admin/state_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <toml.hpp>

#include "config/toml_utf8.h"
#include "config/value_text.h"
#include "fmt/chrono.h"
#include "fmt/format.h"
#include "proxy/status_text.h"

namespace pgvalve::admin {
namespace {

using proxy::UnavailableError;

// As in the config file: query_timeout_except_users = [...].
constexpr std::string_view kExceptSuffix = "_except_users";

// A TOML basic string. TOML wants every control character but tab escaped,
// DEL (U+007F) included, which JSON leaves alone: so not JsonQuoted.
std::string Quote(std::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    switch (c) {
      case '"': quoted += "\\\""; break;
      case '\\': quoted += "\\\\"; break;
      case '\n': quoted += "\\n"; break;
      case '\t': quoted += "\\t"; break;
      case '\r': quoted += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          quoted += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          quoted.push_back(c);
        }
    }
  }
  quoted.push_back('"');
  return quoted;
}

std::string QuoteList(const std::vector<std::string>& items) {
  std::string list;
  for (const auto& item : items) list += (list.empty() ? "" : ", ") + Quote(item);
  return "[" + list + "]";
}

// [limits."db"] with the keys of the config file's [databases."db"]:
// query_timeout = "1s", query_timeout_except_users = [...], ...
std::string RenderLimits(const RuntimeLimits& limits) {
  std::string text;
  for (const auto& [database, settings] : limits.all()) {
    text += fmt::format("\n[limits.{}]\n", Quote(database));
    for (config::Limit limit : config::kAllLimits) {
      const std::optional<config::LimitSetting>& setting = settings.Get(limit);
      if (!setting) continue;
      text += fmt::format("{} = {}\n", config::LimitName(limit),
                          Quote(config::FormatDuration(setting->value)));
      if (config::TakesExceptions(limit)) {
        text += fmt::format("{}{} = {}\n", config::LimitName(limit), kExceptSuffix,
                            QuoteList(setting->except_users));
      }
    }
  }
  return text;
}

std::string Render(const proxy::DatabaseRegistry& databases, const RuntimeLimits& limits) {
  std::string text =
      "# pgvalve runtime state, re-applied at start. Written by pgvalve after each\n"
      "# DISABLE/ENABLE/PAUSE/RESUME/SWITCH/SET/RESET; edit only while pgvalve is\n"
      "# stopped.\n"
      "version = 1\n";
  // Before any [databases.*] table: a table's keys run to the next header.
  if (std::optional<proxy::DisableAllState> all = databases.disable_all().state()) {
    text += fmt::format("\n[disable_all]\nreason = {}\nexcept_databases = {}\nexcept_roles = {}\n",
                        Quote(all->reason), QuoteList(all->except_databases),
                        QuoteList(all->except_roles));
  }
  for (const auto& gate : databases.All()) {
    proxy::DatabaseGateSnapshot state = gate->Snapshot();
    if (!state.disabled && !state.paused && !state.route_switch) continue;
    text += fmt::format("\n[databases.{}]\n", Quote(state.name));
    if (state.disabled) {
      text += fmt::format("disabled = true\nreason = {}\n", Quote(state.disabled->reason));
      text += fmt::format("except_roles = {}\n", QuoteList(state.disabled->except_roles));
    }
    if (state.paused) text += "paused = true\n";
    if (state.route_switch) {
      // A TOML offset date-time, read back as one.
      text += fmt::format("switched_to = {}\nswitched_at = {:%Y-%m-%dT%H:%M:%S}Z\nswitched_by = {}\n",
                          Quote(state.route_switch->upstream),
                          std::chrono::time_point_cast<std::chrono::seconds>(state.route_switch->at),
                          Quote(state.route_switch->by));
    }
  }
  return text + RenderLimits(limits);
}

// A key of a [limits."db"] table: a limit's name, or its exception list
// next to it.
bool IsLimitKey(const toml::value& table, std::string_view key) {
  if (config::ParseLimitName(key)) return true;
  if (!key.ends_with(kExceptSuffix)) return false;
  const std::string_view limit_name = key.substr(0, key.size() - kExceptSuffix.size());
  const std::optional<config::Limit> limit = config::ParseLimitName(limit_name);
  return limit && config::TakesExceptions(*limit) && table.contains(std::string(limit_name));
}

// Reads one [limits."db"] table; throws, as toml11 does, on what pgvalve
// would not have written.
config::LimitSettings LoadLimits(const std::string& database, const toml::value& table) {
  for (const auto& [key, unused] : table.as_table()) {
    if (!IsLimitKey(table, key)) {
      throw std::runtime_error(fmt::format("limits.{}: unknown key {}", Quote(database), key));
    }
  }
  config::LimitSettings settings;
  for (config::Limit limit : config::kAllLimits) {
    const std::string name(config::LimitName(limit));
    if (!table.contains(name)) continue;
    absl::StatusOr<config::Duration> value =
        config::ParseDuration(toml::find<std::string>(table, name));
    if (!value.ok()) {
      throw std::runtime_error(fmt::format("limits.{}.{}: {}", Quote(database), name,
                                           proxy::StatusText(value.status())));
    }
    using Names = std::vector<std::string>;
    settings.Set(limit, {.value = *value,
                         .except_users = toml::find_or<Names>(
                             table, name + std::string(kExceptSuffix), Names{})});
  }
  return settings;
}

absl::Status SystemError(std::string_view what, const std::string& path) {
  return UnavailableError(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

}  // namespace

absl::Status StateStore::Save(const proxy::DatabaseRegistry& databases,
                              const RuntimeLimits& limits) const {
  if (!path_) return absl::OkStatus();
  const std::string text = Render(databases, limits);
  const std::string temporary = *path_ + ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return SystemError("could not create", temporary);
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status error = SystemError("could not write", temporary);
      ::close(fd);
      return error;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    absl::Status error = SystemError("could not fsync", temporary);
    ::close(fd);
    return error;
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path_->c_str()) != 0) return SystemError("could not rename to", *path_);
  // The rename itself is only durable once the directory is synced.
  std::string directory = std::filesystem::path(*path_).parent_path().string();
  int dir_fd = ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return absl::OkStatus();
}

absl::Status StateStore::Load(proxy::DatabaseRegistry& databases, RuntimeLimits& limits) const {
  if (!path_ || !std::filesystem::exists(*path_)) return absl::OkStatus();
  auto unreadable = [this](std::string_view why) {
    return UnavailableError(fmt::format("state file {} is unreadable: {}", *path_, why));
  };
  if (std::filesystem::is_directory(*path_)) return unreadable("it is a directory");
  errno = 0;
  std::ifstream file(*path_, std::ios::binary);
  if (!file) return unreadable(errno != 0 ? std::strerror(errno) : "cannot open");
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) return unreadable("read error");
  const std::string text = std::move(contents).str();
  // toml11 must not see invalid UTF-8 (see config/toml_utf8.h).
  if (absl::Status utf8 = config::CheckTomlUtf8(text, *path_); !utf8.ok()) {
    return unreadable(proxy::StatusText(utf8));
  }
  try {
    std::istringstream stream(text);
    const toml::value root = toml::parse(stream, *path_);
    if (root.contains("disable_all")) {
      const toml::value& all = toml::find(root, "disable_all");
      using Names = std::vector<std::string>;
      databases.disable_all().Set(
          {.reason = toml::find_or<std::string>(all, "reason", ""),
           .except_databases = toml::find_or<Names>(all, "except_databases", Names{}),
           .except_roles = toml::find_or<Names>(all, "except_roles", Names{}),
           .origin = proxy::StateOrigin::kStateFile});
    }
    if (root.contains("limits")) {
      for (const auto& [name, entry] : toml::find<toml::table>(root, "limits")) {
        const config::LimitSettings settings = LoadLimits(name, entry);
        for (config::Limit limit : config::kAllLimits) {
          if (settings.Get(limit)) limits.Set(name, limit, *settings.Get(limit));
        }
      }
    }
    if (!root.contains("databases")) return absl::OkStatus();
    for (const auto& [name, entry] : toml::find<toml::table>(root, "databases")) {
      auto gate = databases.Gate(name);
      const toml::value& state = entry;
      if (toml::find_or<bool>(state, "disabled", false)) {
        gate->Disable({.reason = toml::find_or<std::string>(state, "reason", ""),
                       .except_roles = toml::find_or<std::vector<std::string>>(
                           state, "except_roles", std::vector<std::string>{}),
                       .origin = proxy::StateOrigin::kStateFile});
      }
      if (toml::find_or<bool>(state, "paused", false)) gate->Pause(proxy::StateOrigin::kStateFile);
      if (state.contains("switched_to")) {
        gate->SwitchRoute(proxy::RouteSwitch{
            .upstream = toml::find<std::string>(state, "switched_to"),
            .at = state.contains("switched_at")
                      ? static_cast<std::chrono::system_clock::time_point>(
                            toml::find<toml::offset_datetime>(state, "switched_at"))
                      : std::chrono::system_clock::time_point(),
            .by = toml::find_or<std::string>(state, "switched_by", ""),
            .origin = proxy::StateOrigin::kStateFile});
      }
    }
  } catch (const std::exception& error) {
    return unreadable(error.what());
  }
  return absl::OkStatus();
}

}  // namespace pgvalve::admin
