#include "proxy/relay.h"

#include "fmt/format.h"
#include "protocol/backend_writer.h"
#include "protocol/message_writer.h"
#include "protocol/sqlstate.h"
#include "proxy/held_client_watch.h"

// The relay's PAUSE hold: the client pump stops before a request at a
// transaction boundary and waits here for RESUME, hold_timeout or the
// client's leaving; after hold_timeout the request is discarded and
// answered with 57P03. A request that finds the relay without a backend
// (ReleaseBackendWhenIdle) waits the same way until AttachBackend.

namespace pgvalve::proxy {

using protocol::FrontendTag;

// Shared with the gate's wake-up callback, which may run after the relay
// has ended.
struct Relay::HoldWait {
  explicit HoldWait(asio::any_io_executor executor) : timer(std::move(executor)) {}
  asio::steady_timer timer;
  bool woken = false;
};

Awaitable<Relay::HoldOutcome> Relay::HoldUntilResumed() {
  auto executor = co_await asio::this_coro::executor;
  auto wait = std::make_shared<HoldWait>(executor);
  wait->timer.expires_after(limits_.hold_timeout);
  auto ticket = gate_.StartHolding(executor, [wait] {
    wait->woken = true;
    wait->timer.cancel();
  });
  if (!ticket) co_return HoldOutcome::kResumed;

  record_.SetState(SessionState::kHeld);
  gate_.NotifyWatchers();
  const HoldOutcome outcome = co_await WaitWhileHeld(*wait);
  gate_.StopHolding(*ticket);
  PublishState();
  co_return outcome;
}

Awaitable<Relay::HoldOutcome> Relay::WaitWhileHeld(HoldWait& wait) {
  while (!wait.woken) {
    // Whatever the client sends after the held request is kept in the
    // buffer for after RESUME; its end can only be seen behind those bytes,
    // so a client whose bytes fill the buffer is no longer watched.
    if (client_buffer_.full()) {
      auto [error] = co_await wait.timer.async_wait(kUseTuple);
      if (wait.woken) break;
      co_return error ? HoldOutcome::kAborted : HoldOutcome::kTimedOut;
    }
    const HeldWake wake = co_await WaitForTimerOrClient(wait.timer, client_);
    if (wait.woken) break;
    if (wake.what == HeldWake::What::kTimer) {
      co_return wake.error ? HoldOutcome::kAborted : HoldOutcome::kTimedOut;
    }
    if (wake.error) co_return HoldOutcome::kClientLeft;
    auto [read_error, read] = client_.TryReadSome(client_buffer_.free_space());
    if (MustWait(read_error)) continue;
    // EOF or a reset: the backend is released now, not at RESUME.
    if (read_error) co_return HoldOutcome::kClientLeft;
    client_buffer_.Commit(read);
    record_.counters().add_bytes_from_client(read);
  }
  co_return HoldOutcome::kResumed;
}

Awaitable<bool> Relay::WaitForBackend() {
  // Attached between the step that found no backend and this coroutine.
  if (backend_) co_return true;
  // No deadline of its own: whoever released the backend decides how long
  // a session may go without one.
  backend_wait_ = std::make_shared<HoldWait>(co_await asio::this_coro::executor);
  backend_wait_->timer.expires_at(asio::steady_timer::time_point::max());
  const std::shared_ptr<HoldWait> wait = backend_wait_;
  const HoldOutcome outcome = co_await WaitWhileHeld(*wait);
  backend_wait_.reset();
  co_return outcome == HoldOutcome::kResumed;
}

void Relay::EndWaitForBackend() {
  if (!backend_wait_) return;
  backend_wait_->woken = true;
  backend_wait_->timer.cancel();
}

Awaitable<bool> Relay::StartDiscardingHeldRequest() {
  // The held request starts at the front of the buffer.
  const auto first = static_cast<FrontendTag>(client_buffer_.filled()[0]);
  const bool simple = first == FrontendTag::kQuery || first == FrontendTag::kFunctionCall ||
                      first == FrontendTag::kSync;
  discard_ = Discard{.until_sync = !simple, .last_message_started = false};

  const std::string message = fmt::format(
      "request not run: database \"{}\" has been paused for longer than hold_timeout ({} ms)",
      gate_.name(), limits_.hold_timeout.count());
  protocol::MessageWriter error;
  protocol::AppendErrorResponse(error, {.severity = protocol::Severity::kError,
                                        .sqlstate = protocol::sqlstate::kCannotConnectNow,
                                        .message = message,
                                        .hint = "Retry once the operator has resumed the database."});
  co_return co_await InjectToClient(error.bytes());
}

}  // namespace pgvalve::proxy
