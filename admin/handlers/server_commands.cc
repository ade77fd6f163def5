#include "admin/handlers/server_commands.h"

#include "config/value_text.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/deadline.h"
#include "proxy/status_text.h"
#include "spdlog/spdlog.h"

namespace pgvalve::admin {
namespace {
constexpr std::chrono::milliseconds kReplyGrace{200};

Awaitable<void> ShutdownSoon(proxy::ProcessControl& process, proxy::ShutdownMode mode) {
  co_await proxy::SleepFor(kReplyGrace);
  process.Shutdown(mode);
}
}  // namespace

Awaitable<absl::StatusOr<CommandResult>> Reload(CommandContext& context, ArgumentCursor& arguments) {
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  // Whatever stops a reload is in the configuration (a file that cannot be
  // read, parsed or validated): F0000, as PostgreSQL reports its own.
  if (absl::Status reloaded = context.services.process.Reload(); !reloaded.ok()) {
    co_return protocol::ErrorWithSqlState(
        protocol::sqlstate::kConfigFileError,
        fmt::format("configuration not reloaded, the one in effect stays: {}", proxy::StatusText(reloaded)));
  }
  co_return CommandResult{std::nullopt, "RELOAD"};
}

Awaitable<absl::StatusOr<CommandResult>> Shutdown(CommandContext& context, ArgumentCursor& arguments) {
  proxy::ShutdownMode mode = proxy::ShutdownMode::kSmart;
  if (arguments.AcceptKeyword("FAST")) {
    mode = proxy::ShutdownMode::kFast;
  } else {
    arguments.AcceptKeyword("SMART");
  }
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  // Started a moment later so that this reply reaches the operator before
  // the control thread stops.
  proxy::asio::co_spawn(co_await proxy::asio::this_coro::executor,
                        ShutdownSoon(context.services.process, mode), proxy::asio::detached);
  co_return CommandResult{std::nullopt, "SHUTDOWN"};
}

Awaitable<absl::StatusOr<CommandResult>> SetLogLevel(CommandContext& context, ArgumentCursor& arguments) {
  if (!arguments.AcceptToken(TokenKind::kEquals)) arguments.AcceptKeyword("TO");
  absl::StatusOr<std::string> level = arguments.ExpectText("a log level: trace, debug, info, warn or error");
  if (!level.ok()) co_return level.status();
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  if (!config::IsLogLevel(*level)) {
    co_return protocol::ErrorWithSqlState(
        protocol::sqlstate::kInvalidParameterValue,
        fmt::format("log_level must be trace, debug, info, warn or error, got \"{}\"", *level));
  }
  const spdlog::level::level_enum before = spdlog::get_level();
  spdlog::set_level(spdlog::level::from_str(*level));
  co_await context.notices.Notice(fmt::format("log level {}, was {}; RESET LOG_LEVEL returns to the file's {}",
                                              *level, spdlog::level::to_string_view(before),
                                              context.services.config.Current()->log_level));
  co_return CommandResult{std::nullopt, "SET"};
}

Awaitable<absl::StatusOr<CommandResult>> ResetLogLevel(CommandContext& context, ArgumentCursor& arguments) {
  if (absl::Status end = arguments.ExpectEnd(); !end.ok()) co_return end;
  const std::string level = context.services.config.Current()->log_level;
  spdlog::set_level(spdlog::level::from_str(level));
  co_await context.notices.Notice(fmt::format("log level {}, the configuration's", level));
  co_return CommandResult{std::nullopt, "RESET"};
}

}  // namespace pgvalve::admin
