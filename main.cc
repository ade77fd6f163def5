// pgvalve: a PostgreSQL wire-protocol proxy with a session kill switch.

#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>

#include "admin/console/admin_server.h"
#include "config/command_line.h"
#include "config/fd_limit.h"
#include "pgvalve_version.h"
#include "proxy/json_log.h"
#include "proxy/proxy_server.h"
#include "proxy/status_text.h"

namespace {

using pgvalve::proxy::StatusText;

void ConfigureLogging(const std::string& level, const std::string& format) {
  if (format == "json") {
    spdlog::set_formatter(std::make_unique<pgvalve::proxy::JsonLogFormatter>());
  } else {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e [%l] %v");
  }
  spdlog::set_level(spdlog::level::from_str(level));
  // Session open/close lines must reach a log collector promptly.
  spdlog::flush_on(spdlog::level::info);
}

// The inherited soft limit is often 1024 whatever the operator granted;
// the hard limit is what was granted.
void RaiseFdLimit(const pgvalve::config::ProxySettings& proxy) {
  const pgvalve::config::FdLimitRaise raise = pgvalve::config::RaiseSoftFdLimit();
  if (!raise.error.empty()) {
    spdlog::warn("file-descriptor limit: could not raise the soft limit {} to the hard limit {}: {}",
                 raise.before.soft, raise.before.hard, raise.error);
  } else {
    spdlog::info("file-descriptor limit: soft {} -> {} (hard {})", raise.before.soft,
                 raise.after.soft, raise.after.hard);
  }
  if (auto warning = pgvalve::config::FdLimitWarning(proxy, raise.after.soft)) {
    spdlog::warn("{}", *warning);
  }
}

}  // namespace

int main(int argc, char** argv) {
  namespace config = pgvalve::config;
  absl::StatusOr<config::CommandLine> command_line = config::ParseCommandLine(argc, argv);
  if (!command_line.ok()) {
    std::cerr << "pgvalve: " << StatusText(command_line.status()) << "\n"
              << "Try \"pgvalve --help\".\n";
    return 2;
  }
  switch (command_line->action) {
    case config::CommandLineAction::kPrintVersion:
      std::cout << "pgvalve " << pgvalve::kVersion << "\n";
      return 0;
    case config::CommandLineAction::kPrintHelp:
      std::cout << config::HelpText();
      return 0;
    case config::CommandLineAction::kCheckConfig:
      return config::RunCheckConfig(*command_line, std::cout, std::cerr);
    case config::CommandLineAction::kRun:
      break;
  }

  absl::StatusOr<config::Config> loaded = config::BuildConfig(*command_line);
  if (!loaded.ok()) {
    std::cerr << "pgvalve: " << StatusText(loaded.status()) << "\n";
    return 1;
  }
  ConfigureLogging(loaded->log_level, loaded->log_format);
  spdlog::info("pgvalve {} starting with configuration from {}", pgvalve::kVersion,
               loaded->source);
  RaiseFdLimit(loaded->proxy);

  pgvalve::proxy::ProxyServer server(*std::move(loaded),
                                     [cmd = *command_line] { return config::BuildConfig(cmd); });
  pgvalve::admin::AdminServer admin(server);
  // State first, so a database disabled before a restart is refused from
  // the very first connection.
  for (absl::Status step : {admin.RestoreState(), server.Start(), admin.Start()}) {
    if (!step.ok()) {
      spdlog::critical("{}", StatusText(step));
      return 1;
    }
  }
  // Every listener is bound (clients, the admin console, HTTP), and a
  // fleet member has applied the fleet's state.
  admin.WhenAdmitting([&server] { server.service().Ready("accepting connections"); });
  server.Run();
  spdlog::info("pgvalve stopped");
  return 0;
}
