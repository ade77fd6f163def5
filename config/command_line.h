#pragma once
// pgvalve's command line: which action to take, which file to read, and
// flags that override the file. Parsing only checks each flag's own syntax;
// BuildConfig merges and then runs the same Validate as a file does.

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "config/value_text.h"

namespace pgvalve::config {

enum class CommandLineAction { kRun, kCheckConfig, kPrintVersion, kPrintHelp };

inline constexpr std::string_view kCommandLineSource = "<command line>";

struct CommandLine {
  CommandLineAction action = CommandLineAction::kRun;
  // --config FILE, or the FILE of --check-config FILE.
  std::optional<std::string> config_path;

  // Overrides. Empty vectors and nullopt leave the file's value alone.
  std::vector<ListenAddress> listen;  // replaces proxy.listen
  std::optional<std::string> unix_socket_dir;
  std::vector<ListenAddress> admin_listen;  // replaces admin.listen
  std::optional<std::string> admin_unix_socket_dir;
  std::optional<uint32_t> workers;
  std::optional<uint32_t> max_client_connections;
  std::optional<std::string> log_level;
  std::optional<std::string> state_file;
  // Becomes upstream "default", and the "*" route points at it.
  std::optional<HostAndPort> upstream;
  std::vector<AdminUser> admin_users;  // appended to admin.users

  bool HasOverrides() const;
};

// `argv[0]` is the program name and is skipped. Accepts `--flag value` and
// `--flag=value`.
absl::StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv);

std::string HelpText();

// Loads the file if any (or starts from defaults), applies the flag
// overrides, validates the result.
absl::StatusOr<Config> BuildConfig(const CommandLine& cmd);

// What --check-config does: prints "configuration FILE is valid" to `out` and
// returns 0, or prints the error to `err` and returns 1. A hard
// file-descriptor limit below what the configuration may need is reported
// to `err` as a warning.
int RunCheckConfig(const CommandLine& cmd, std::ostream& out,
                   std::ostream& err);
// The same against a given limit instead of this process's hard limit.
int RunCheckConfig(const CommandLine& cmd, std::ostream& out,
                   std::ostream& err, uint64_t fd_limit);

}  // namespace pgvalve::config
