#include "config/command_line.h"

#include <ostream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "config/config_error.h"
#include "config/config_file.h"
#include "config/fd_limit.h"
#include "config/scram_verifier.h"
#include "config/string_views.h"
#include "config/validate.h"

namespace pgvalve::config {
namespace {

struct ParseState {
  CommandLine cmd;
  bool help = false;
  bool version = false;
};

using FlagHandler = absl::Status (*)(std::string_view flag,
                                     std::string_view value, ParseState&);

enum class FlagSection { kAction, kOverride };

// One row per flag: parsing and --help both read this table, so they cannot
// disagree.
struct FlagSpec {
  std::string_view name;
  std::string_view value_name;  // empty: the flag takes no value
  FlagSection section;
  std::string_view help;
  FlagHandler apply;
};

absl::Status FlagError(std::string_view flag, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(AbslView(flag), ": ", AbslView(what)));
}

template <typename T>
absl::Status SetOnce(std::string_view flag, std::optional<T>& slot, T value) {
  if (slot) return FlagError(flag, "given more than once");
  slot = std::move(value);
  return absl::OkStatus();
}

absl::Status SetPath(std::string_view flag, std::string_view value,
                     std::optional<std::string>& slot) {
  if (value.empty()) return FlagError(flag, "expected a path, got \"\"");
  return SetOnce(flag, slot, std::string(value));
}

absl::Status SetCount(std::string_view flag, std::string_view value,
                      IntegerRange range, std::optional<uint32_t>& slot) {
  const std::optional<int64_t> number = ParseDecimal(value);
  if (!number || !range.Contains(*number)) {
    return FlagError(
        flag, absl::StrCat("expected an integer between ", range.min, " and ",
                           range.max, ", got ", Quoted(value)));
  }
  return SetOnce(flag, slot, static_cast<uint32_t>(*number));
}

absl::Status AddListen(std::string_view flag, std::string_view value,
                       std::vector<ListenAddress>& list) {
  absl::StatusOr<ListenAddress> address = ParseListenAddress(value);
  if (!address.ok()) {
    return FlagError(flag, StdView(address.status().message()));
  }
  list.push_back(*std::move(address));
  return absl::OkStatus();
}

absl::Status SetConfigPath(std::string_view flag, std::string_view value,
                           ParseState& state, CommandLineAction action) {
  if (state.cmd.config_path) {
    const bool same = state.cmd.action == action;
    return FlagError(flag, same ? "given more than once"
                                : "--config and --check-config both name a "
                                  "file; use one");
  }
  if (value.empty()) return FlagError(flag, "expected a file, got \"\"");
  state.cmd.action = action;
  state.cmd.config_path = std::string(value);
  return absl::OkStatus();
}

bool IsLowercaseWord(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < 'a' || c > 'z') return false;
  }
  return true;
}

// NAME:PASSWORD[:ROLE]. The password may itself contain ':' (a SCRAM
// verifier always does), so a trailing ":admin"/":monitor" is the role and
// everything between is the password. Errors never echo the password.
absl::Status AddAdminUser(std::string_view flag, std::string_view value,
                          ParseState& state) {
  const size_t colon = value.find(':');
  if (colon == std::string_view::npos) {
    return FlagError(flag, "expected NAME:PASSWORD[:ROLE]");
  }
  AdminUser user;
  user.name = std::string(value.substr(0, colon));
  std::string_view password = value.substr(colon + 1);
  const size_t last = password.rfind(':');
  if (last != std::string_view::npos) {
    const std::string_view tail = password.substr(last + 1);
    if (const std::optional<AdminRole> role = ParseAdminRole(tail)) {
      user.role = *role;
      password = password.substr(0, last);
    } else if (IsLowercaseWord(tail) && !LooksLikeScramVerifier(password)) {
      // Most likely a misspelt role; taking it as part of the password would
      // quietly grant the admin role instead. The text is not echoed: it
      // may be the end of a password.
      return FlagError(flag,
                       "the part after the last ':' is not a ROLE (admin or "
                       "monitor); a password containing ':' needs an "
                       "explicit :ROLE");
    }
  }
  if (user.name.empty()) return FlagError(flag, "NAME must not be empty");
  if (password.empty()) return FlagError(flag, "PASSWORD must not be empty");
  user.password = std::string(password);
  state.cmd.admin_users.push_back(std::move(user));
  return absl::OkStatus();
}

const FlagSpec kFlags[] = {
    {"--config", "FILE", FlagSection::kAction,
     "run with the configuration in FILE (TOML)",
     [](std::string_view flag, std::string_view value, ParseState& state) {
       return SetConfigPath(flag, value, state, CommandLineAction::kRun);
     }},
    {"--check-config", "FILE", FlagSection::kAction,
     "validate FILE (and any overrides), report, exit 0 if valid else 1",
     [](std::string_view flag, std::string_view value, ParseState& state) {
       return SetConfigPath(flag, value, state,
                            CommandLineAction::kCheckConfig);
     }},
    {"--version", "", FlagSection::kAction, "print the version and exit",
     [](std::string_view, std::string_view, ParseState& state) {
       state.version = true;
       return absl::OkStatus();
     }},
    {"--help", "", FlagSection::kAction, "print this help and exit (also -h)",
     [](std::string_view, std::string_view, ParseState& state) {
       state.help = true;
       return absl::OkStatus();
     }},
    {"--upstream", "HOST:PORT", FlagSection::kOverride,
     "define upstream \"default\" and route \"*\" to it; HOST may be a "
     "unix-socket directory (/var/run/postgresql:5432); with --config, other "
     "routes of the file stay",
     [](std::string_view flag, std::string_view value, ParseState& state) {
       absl::StatusOr<HostAndPort> address = ParseUpstreamAddress(value);
       if (!address.ok()) {
         return FlagError(flag, StdView(address.status().message()));
       }
       return SetOnce(flag, state.cmd.upstream, *std::move(address));
     }},
    {"--listen", "ADDR:PORT", FlagSection::kOverride,
     "client address, repeatable; replaces proxy.listen",
     [](std::string_view flag, std::string_view value, ParseState& state) {
       return AddListen(flag, value, state.cmd.listen);
     }},
    {"--unix-socket-dir", "DIR", FlagSection::kOverride,
     "proxy.unix_socket_dir",
     [](std::string_view flag, std::string_view value, ParseState& state) {
       return SetPath(flag, value, state.cmd.unix_socket_dir);
     }},
    {"--admin-listen", "ADDR:PORT", FlagSection::kOverride,
     "admin console address, repeatable; replaces admin.listen",
     [](std::string_view flag, std::string_view value, ParseState& state) {
       return AddListen(flag, value, state.cmd.admin_listen);
     }},
    {"--admin-unix-socket-dir", "DIR", FlagSection::kOverride,
     "admin.unix_socket_dir",
     [](std::string_view flag, std::string_view value, ParseState& state) {
       return SetPath(flag, value, state.cmd.admin_unix_socket_dir);
     }},
    {"--admin-user", "NAME:PASSWORD[:ROLE]", FlagSection::kOverride,
     "add an admin user, repeatable; ROLE is admin (default) or monitor. "
     "Command lines are visible to other local users: prefer the file",
     AddAdminUser},
    {"--workers", "N", FlagSection::kOverride,
     "proxy.workers (0: one per core)",
     [](std::string_view flag, std::string_view value, ParseState& state) {
       return SetCount(flag, value, kWorkersRange, state.cmd.workers);
     }},
    {"--max-client-connections", "N", FlagSection::kOverride,
     "proxy.max_client_connections",
     [](std::string_view flag, std::string_view value, ParseState& state) {
       return SetCount(flag, value, kMaxClientConnectionsRange,
                       state.cmd.max_client_connections);
     }},
    {"--log-level", "LEVEL", FlagSection::kOverride,
     "log_level: trace, debug, info, warn or error",
     [](std::string_view flag, std::string_view value, ParseState& state) {
       if (!IsLogLevel(value)) {
         return FlagError(flag, absl::StrCat("expected one of ",
                                             absl::StrJoin(kLogLevels, "|"),
                                             ", got ", Quoted(value)));
       }
       return SetOnce(flag, state.cmd.log_level, std::string(value));
     }},
    {"--state-file", "PATH", FlagSection::kOverride, "admin.state_file",
     [](std::string_view flag, std::string_view value, ParseState& state) {
       return SetPath(flag, value, state.cmd.state_file);
     }},
};

const FlagSpec* FindFlag(std::string_view name) {
  for (const FlagSpec& spec : kFlags) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

void ApplyOverrides(const CommandLine& cmd, Config& config) {
  if (!cmd.listen.empty()) config.proxy.listen = cmd.listen;
  if (cmd.unix_socket_dir) config.proxy.unix_socket_dir = cmd.unix_socket_dir;
  if (!cmd.admin_listen.empty()) config.admin.listen = cmd.admin_listen;
  if (cmd.admin_unix_socket_dir) {
    config.admin.unix_socket_dir = cmd.admin_unix_socket_dir;
  }
  if (cmd.workers) config.proxy.workers = *cmd.workers;
  if (cmd.max_client_connections) {
    config.proxy.max_client_connections = *cmd.max_client_connections;
  }
  if (cmd.log_level) config.log_level = *cmd.log_level;
  if (cmd.state_file) config.admin.state_file = cmd.state_file;
  if (cmd.upstream) {
    // Keep any control_* settings a file gave an upstream named "default".
    UpstreamConfig& upstream = config.upstreams["default"];
    upstream.name = "default";
    upstream.host = cmd.upstream->host;
    upstream.port = cmd.upstream->port;
    config.databases["*"] = DatabaseRoute{"*", "default"};
  }
  config.admin.users.insert(config.admin.users.end(), cmd.admin_users.begin(),
                            cmd.admin_users.end());
}

// "  --flag VALUE" in a column of kUsageWidth, then the description
// word-wrapped to kHelpWidth; a usage too wide for its column gets a line of
// its own.
void AppendFlagHelp(std::string& text, std::string usage,
                    std::string_view help) {
  constexpr size_t kUsageWidth = 34;
  constexpr size_t kHelpWidth = 79;
  if (usage.size() < kUsageWidth) {
    usage.resize(kUsageWidth, ' ');
  } else {
    absl::StrAppend(&usage, "\n", std::string(kUsageWidth, ' '));
  }
  std::string line = std::move(usage);
  size_t line_start = line.rfind('\n') + 1;  // npos + 1 == 0
  bool first_word = true;
  for (absl::string_view word :
       absl::StrSplit(AbslView(help), ' ', absl::SkipEmpty())) {
    if (!first_word &&
        line.size() - line_start + 1 + word.size() > kHelpWidth) {
      absl::StrAppend(&line, "\n", std::string(kUsageWidth, ' '));
      line_start = line.size() - kUsageWidth;
      first_word = true;
    }
    absl::StrAppend(&line, first_word ? "" : " ", word);
    first_word = false;
  }
  absl::StrAppend(&text, line, "\n");
}

}  // namespace

bool CommandLine::HasOverrides() const {
  return !listen.empty() || unix_socket_dir || !admin_listen.empty() ||
         admin_unix_socket_dir || workers || max_client_connections ||
         log_level || state_file || upstream || !admin_users.empty();
}

absl::StatusOr<CommandLine> ParseCommandLine(int argc,
                                             const char* const* argv) {
  ParseState state;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h") arg = "--help";
    if (!arg.starts_with("--")) {
      const char* what =
          arg.starts_with("-") ? "unknown flag " : "unexpected argument ";
      return absl::InvalidArgumentError(absl::StrCat(what, Quoted(arg)));
    }
    std::string_view name = arg;
    std::optional<std::string_view> inline_value;
    if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    const FlagSpec* spec = FindFlag(name);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag ", Quoted(name)));
    }
    std::string_view value;
    if (spec->value_name.empty()) {
      if (inline_value) return FlagError(name, "takes no value");
    } else if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < argc &&
               !std::string_view(argv[i + 1]).starts_with("--")) {
      value = argv[++i];
    } else {
      // A value that starts with "--" must use --flag=value, so that a
      // forgotten value does not swallow the next flag.
      return FlagError(
          name, absl::StrCat("missing value ", AbslView(spec->value_name)));
    }
    if (absl::Status status = spec->apply(name, value, state); !status.ok()) {
      return status;
    }
  }
  if (state.help) {
    state.cmd.action = CommandLineAction::kPrintHelp;
  } else if (state.version) {
    state.cmd.action = CommandLineAction::kPrintVersion;
  }
  return state.cmd;
}

std::string HelpText() {
  std::string text =
      "Usage:\n"
      "  pgvalve --config FILE [OVERRIDES]\n"
      "  pgvalve --upstream HOST:PORT [--listen ADDR:PORT] [OVERRIDES]\n"
      "  pgvalve --check-config FILE [OVERRIDES]\n"
      "  pgvalve --version | --help\n"
      "\n"
      "A PostgreSQL wire-protocol proxy. Without a file, --upstream starts\n"
      "it with defaults: clients on 127.0.0.1:6432, every database routed\n"
      "to HOST:PORT.\n";
  const auto section = [&](FlagSection which, const char* title) {
    absl::StrAppend(&text, "\n", title, "\n");
    for (const FlagSpec& spec : kFlags) {
      if (spec.section != which) continue;
      std::string usage = absl::StrCat("  ", AbslView(spec.name));
      if (!spec.value_name.empty()) {
        absl::StrAppend(&usage, " ", AbslView(spec.value_name));
      }
      AppendFlagHelp(text, usage, spec.help);
    }
  };
  section(FlagSection::kAction, "Actions:");
  section(FlagSection::kOverride,
          "Overrides (win over the file; each is checked like the file):");
  absl::StrAppend(&text,
                  "\nA flag's value may also follow an '=': --flag=value. A "
                  "value that\nstarts with \"--\" must be given that way.\n");
  return text;
}

absl::StatusOr<Config> BuildConfig(const CommandLine& cmd) {
  Config config;
  if (cmd.config_path) {
    absl::StatusOr<Config> read = ReadConfigFile(*cmd.config_path);
    if (!read.ok()) return read.status();
    config = *std::move(read);
  } else if (cmd.upstream) {
    config.source = std::string(kCommandLineSource);
  } else {
    return absl::InvalidArgumentError(
        "no configuration: pass --config FILE or --upstream HOST:PORT (see "
        "--help)");
  }
  ApplyOverrides(cmd, config);
  // Say when flags were involved: a file that is valid on its own may not be
  // once a flag adds, say, a second admin user of the same name.
  const std::string label =
      cmd.config_path && cmd.HasOverrides()
          ? absl::StrCat(config.source, " with command-line overrides")
          : config.source;
  if (absl::Status valid = Validate(config, label); !valid.ok()) return valid;
  return config;
}

int RunCheckConfig(const CommandLine& cmd, std::ostream& out,
                   std::ostream& err) {
  return RunCheckConfig(cmd, out, err, ReadFdLimits().hard);
}

int RunCheckConfig(const CommandLine& cmd, std::ostream& out,
                   std::ostream& err, uint64_t fd_limit) {
  absl::StatusOr<Config> config = BuildConfig(cmd);
  if (!config.ok()) {
    err << config.status().message() << "\n";
    return 1;
  }
  out << "configuration " << config->source << " is valid\n";
  // A warning, not a refusal: the limit that counts is the one pgvalve will
  // run under (systemd's LimitNOFILE), which may not be this shell's. Run
  // under the same limits, the check shows what pgvalve will say at start.
  if (std::optional<std::string> warning =
          FdLimitWarning(config->proxy, fd_limit)) {
    err << "warning: " << *warning << "\n";
  }
  return 0;
}

}  // namespace pgvalve::config
