// Fuzzes pgvalve's command line: ParseCommandLine, then BuildConfig when
// the flags need no file (BuildConfig would read the file of --config).
// Input: the arguments after the program name, separated by NUL bytes.
//
// Besides not crashing:
//   - every error names the flag it is about (one that --help lists) or the
//     argument it did not understand;
//   - an --admin-user error does not echo the password;
//   - the action follows the flags: --help wins over --version, which wins
//     over --check-config, and only --config/--check-config name a file;
//   - BuildConfig's errors name a key of the configuration, and what it
//     accepts routes "*" to the upstream "default" that --upstream defines.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/command_line.h"
#include "config/config.h"
#include "tests/fuzz/fuzz_check.h"

namespace pgvalve::fuzz {
namespace {

using config::CommandLineAction;

// The flags --help lists (its lines that start with "  --"), and whether
// each takes a value (its usage line names one, in upper case).
struct KnownFlag {
  std::string name;
  bool takes_value;
};

const std::vector<KnownFlag>& KnownFlags() {
  static const std::vector<KnownFlag> flags = [] {
    std::vector<KnownFlag> known;
    const std::string help = config::HelpText();
    for (size_t at = help.find("\n  --"); at != std::string::npos; at = help.find("\n  --", at + 1)) {
      const size_t start = at + 3;
      const size_t end = help.find_first_of(" \n", start);
      const bool value = end + 1 < help.size() && help[end] == ' ' && help[end + 1] >= 'A' && help[end + 1] <= 'Z';
      known.push_back({help.substr(start, end - start), value});
    }
    return known;
  }();
  return flags;
}

const KnownFlag* FindKnownFlag(std::string_view name) {
  for (const KnownFlag& flag : KnownFlags()) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

bool IsKnownFlag(std::string_view name) { return FindKnownFlag(name) != nullptr; }

// The flags of a command line that parsed, in order, without their values.
std::vector<std::string_view> FlagsGiven(const std::vector<std::string>& args) {
  std::vector<std::string_view> flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    const std::string_view name = arg == "-h" ? std::string_view("--help") : arg.substr(0, arg.find('='));
    const KnownFlag* flag = FindKnownFlag(name);
    PGVALVE_FUZZ_CHECK(flag != nullptr);
    flags.push_back(flag->name);
    if (flag->takes_value && name.size() == arg.size()) ++i;  // the value follows
  }
  return flags;
}

void CheckParseError(const absl::Status& status, const std::vector<std::string>& args) {
  PGVALVE_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  const std::string_view message = MessageOf(status);
  if (message.starts_with("unknown flag \"") || message.starts_with("unexpected argument \"")) return;
  const size_t colon = message.find(": ");
  PGVALVE_FUZZ_CHECK(colon != std::string_view::npos);
  const std::string_view flag = message.substr(0, colon);
  PGVALVE_FUZZ_CHECK(IsKnownFlag(flag));
  if (flag != "--admin-user") return;
  // NAME:PASSWORD[:ROLE]: no part after the first ':' may show up, however
  // the value was given. The messages hold no digits, so a password with a
  // digit in it cannot match their text by chance.
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view value;
    if (args[i].starts_with("--admin-user=")) {
      value = std::string_view(args[i]).substr(13);
    } else if (args[i] == "--admin-user" && i + 1 < args.size()) {
      value = args[i + 1];
    } else {
      continue;
    }
    const size_t first_colon = value.find(':');
    if (first_colon == std::string_view::npos) continue;
    const std::string_view password = value.substr(first_colon + 1);
    if (password.size() >= 4 && std::any_of(password.begin(), password.end(),
                                            [](char c) { return c >= '0' && c <= '9'; })) {
      PGVALVE_FUZZ_CHECK(message.find(password) == std::string_view::npos);
    }
  }
}

void CheckParsed(const config::CommandLine& cmd, const std::vector<std::string>& args) {
  const std::vector<std::string_view> flags = FlagsGiven(args);
  const auto given = [&flags](std::string_view flag) {
    return std::find(flags.begin(), flags.end(), flag) != flags.end();
  };
  if (given("--help")) {
    PGVALVE_FUZZ_CHECK(cmd.action == CommandLineAction::kPrintHelp);
  } else if (given("--version")) {
    PGVALVE_FUZZ_CHECK(cmd.action == CommandLineAction::kPrintVersion);
  } else if (cmd.config_path) {
    PGVALVE_FUZZ_CHECK(cmd.action == (given("--check-config") ? CommandLineAction::kCheckConfig
                                                              : CommandLineAction::kRun));
  } else {
    PGVALVE_FUZZ_CHECK(cmd.action == CommandLineAction::kRun);
  }
  PGVALVE_FUZZ_CHECK(cmd.config_path.has_value() == (given("--config") || given("--check-config")));
  PGVALVE_FUZZ_CHECK(!cmd.config_path || !cmd.config_path->empty());
  PGVALVE_FUZZ_CHECK(cmd.upstream.has_value() == given("--upstream"));
  for (const config::AdminUser& user : cmd.admin_users) {
    PGVALVE_FUZZ_CHECK(!user.name.empty() && !user.password.empty());
  }
  PGVALVE_FUZZ_CHECK(cmd.HasOverrides() == (!cmd.listen.empty() || cmd.unix_socket_dir ||
                                            !cmd.admin_listen.empty() || cmd.admin_unix_socket_dir ||
                                            cmd.workers || cmd.max_client_connections || cmd.log_level ||
                                            cmd.state_file || cmd.upstream || !cmd.admin_users.empty()));
}

void CheckBuilt(const config::CommandLine& cmd) {
  absl::StatusOr<config::Config> config = config::BuildConfig(cmd);
  if (!cmd.upstream) {
    PGVALVE_FUZZ_CHECK(!config.ok() && MessageOf(config.status()).starts_with("no configuration"));
    return;
  }
  if (!config.ok()) {
    // "<command line>: KEY.PATH: what"
    const std::string prefix = std::string(config::kCommandLineSource) + ": ";
    const std::string_view message = MessageOf(config.status());
    PGVALVE_FUZZ_CHECK(message.starts_with(prefix));
    const size_t colon = message.find(": ", prefix.size());
    PGVALVE_FUZZ_CHECK(colon != std::string_view::npos && colon > prefix.size());
    return;
  }
  PGVALVE_FUZZ_CHECK(config->source == config::kCommandLineSource);
  PGVALVE_FUZZ_CHECK(config->databases.size() == 1 && config->databases.at("*").upstream == "default");
  const config::UpstreamConfig& upstream = config->upstreams.at("default");
  PGVALVE_FUZZ_CHECK(upstream.host == cmd.upstream->host && upstream.port == cmd.upstream->port);
  PGVALVE_FUZZ_CHECK(config->admin.users.size() == cmd.admin_users.size());
  if (!cmd.listen.empty()) PGVALVE_FUZZ_CHECK(config->proxy.listen == cmd.listen);
}

}  // namespace
}  // namespace pgvalve::fuzz

extern "C" int PGVALVE_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace pgvalve;
  std::vector<std::string> args;
  if (size > 0) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    for (size_t start = 0;;) {
      const size_t nul = input.find('\0', start);
      args.emplace_back(input.substr(start, nul - start));
      if (nul == std::string_view::npos) break;
      start = nul + 1;
    }
  }
  std::vector<const char*> argv = {"pgvalve"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  absl::StatusOr<config::CommandLine> cmd = config::ParseCommandLine(static_cast<int>(argv.size()), argv.data());
  if (!cmd.ok()) {
    fuzz::CheckParseError(cmd.status(), args);
    return 0;
  }
  fuzz::CheckParsed(*cmd, args);
  if (!cmd->config_path) fuzz::CheckBuilt(*cmd);
  return 0;
}
