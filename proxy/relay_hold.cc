#include "proxy/relay.h"

#include "fmt/format.h"
#include "protocol/backend_writer.h"
#include "protocol/message_writer.h"
#include "protocol/sqlstate.h"

// Where the relay holds its client's next request: the PAUSE hold (the
// client pump stops at a transaction boundary until RESUME, hold_timeout or
// the client's leaving; after hold_timeout the request is dropped by a
// HeldRequestDiscard and answered with 57P03), and the wait for a backend
// (ReleaseBackendWhenIdle until AttachBackend). The waiting itself is
// RequestHold's.

namespace pgvalve::proxy {

using protocol::FrontendTag;

Awaitable<RequestHold::Outcome> Relay::HoldUntilResumed() {
  auto executor = co_await asio::this_coro::executor;
  auto hold = std::make_shared<RequestHold>(executor, std::chrono::steady_clock::now() + limits_.hold_timeout);
  auto ticket = gate_.StartHolding(executor, [hold] { hold->Wake(); });
  if (!ticket) co_return RequestHold::Outcome::kWoken;

  record_.SetState(SessionState::kHeld);
  gate_.NotifyWatchers();
  const auto held_since = std::chrono::steady_clock::now();
  const RequestHold::Outcome outcome = co_await hold->Wait(client_, client_buffer_, record_.counters());
  gate_.StopHolding(*ticket);
  owner_.Events().HoldEnded(HoldKind::kRequest, std::chrono::steady_clock::now() - held_since);
  PublishState();
  co_return outcome;
}

Awaitable<bool> Relay::WaitForBackend() {
  // Attached between the step that found no backend and this coroutine.
  if (backend_) co_return true;
  // No deadline of its own: whoever released the backend decides how long
  // a session may go without one.
  backend_wait_ = std::make_shared<RequestHold>(co_await asio::this_coro::executor,
                                                std::chrono::steady_clock::time_point::max());
  const std::shared_ptr<RequestHold> hold = backend_wait_;
  const RequestHold::Outcome outcome = co_await hold->Wait(client_, client_buffer_, record_.counters());
  backend_wait_.reset();
  co_return outcome == RequestHold::Outcome::kWoken;
}

void Relay::EndWaitForBackend() {
  if (backend_wait_) backend_wait_->Wake();
}

Awaitable<bool> Relay::StartDiscardingHeldRequest() {
  // The held request starts at the front of the buffer.
  discard_.emplace(static_cast<FrontendTag>(client_buffer_.filled()[0]));

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
