#include "admin/handlers/server_commands.h"

#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/deadline.h"
#include "proxy/status_text.h"

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

}  // namespace pgvalve::admin
