#include "proxy/relay_probe.h"

#include <boost/asio/bind_cancellation_slot.hpp>

#include "fmt/format.h"
#include "protocol/backend_messages.h"
#include "protocol/message_writer.h"
#include "proxy/relay.h"
#include "proxy/status_text.h"

// The relay's probe (SessionControl::Probe): a query of pgvalve's own, run
// on the session's backend between two of the client's requests. The state
// is RelayProbe's; the relay sends the query and waits for the answer.

namespace pgvalve::proxy {

using protocol::BackendTag;
using protocol::FrontendTag;

namespace {
// A probe that gets no answer in this time leaves the session in an
// unknown state, so the session is closed.
constexpr std::chrono::seconds kProbeTimeout{10};
}  // namespace

bool RelayProbe::IsReply(BackendTag tag) {
  switch (tag) {
    case BackendTag::kRowDescription:
    case BackendTag::kDataRow:
    case BackendTag::kCommandComplete:
    case BackendTag::kEmptyQueryResponse:
    case BackendTag::kErrorResponse:
    case BackendTag::kNoticeResponse:
    case BackendTag::kReadyForQuery:
      return true;
    default:
      return false;
  }
}

void RelayProbe::Begin(std::string sql, Done done) {
  state_ = std::make_unique<State>(State{.done = std::move(done), .sql_to_send = std::move(sql)});
}

std::string RelayProbe::TakeSql() {
  std::string sql = *std::move(state_->sql_to_send);
  state_->sql_to_send.reset();
  return sql;
}

absl::Status RelayProbe::OnReply(BackendTag tag, std::span<const std::byte> body) {
  switch (tag) {
    case BackendTag::kDataRow: {
      if (state_->first_row) break;
      auto values = protocol::ParseDataRow(body);
      if (!values.ok()) return values.status();
      auto& row = state_->first_row.emplace();
      for (const auto& value : *values) {
        row.push_back(value ? std::optional<std::string>(std::string(*value)) : std::nullopt);
      }
      break;
    }
    case BackendTag::kErrorResponse: {
      auto fields = protocol::ParseErrorOrNotice(body);
      if (!fields.ok()) return fields.status();
      state_->error = std::string(fields->message);
      break;
    }
    case BackendTag::kReadyForQuery:
      Finish();
      break;
    default:
      break;  // RowDescription, CommandComplete, notices: nothing to keep
  }
  return absl::OkStatus();
}

void RelayProbe::Fail(std::string error) {
  state_->error = std::move(error);
  Finish();
}

void RelayProbe::SenderStarted(std::shared_ptr<asio::cancellation_signal> sender) {
  state_->sender = std::move(sender);
}

void RelayProbe::SenderEnded(const asio::cancellation_signal* sender) {
  if (active() && state_->sender.get() == sender) state_->sender.reset();
}

void RelayProbe::CancelSender() {
  if (active() && state_->sender) state_->sender->emit(asio::cancellation_type::terminal);
}

void RelayProbe::SetWaiter(asio::steady_timer* waiter) {
  if (active()) state_->waiter = waiter;
}

void RelayProbe::Finish() {
  const std::unique_ptr<State> state = std::move(state_);
  if (state->waiter) state->waiter->cancel();
  if (state->error) {
    state->done(UnavailableError(*state->error));
  } else {
    state->done(state->first_row.value_or(std::vector<std::optional<std::string>>{}));
  }
}

void Relay::StartProbe(std::string sql, RelayProbe::Done done) {
  // Only between transactions, and only when neither direction is inside a
  // message, so the probe's Query and its replies stand on their own.
  if (!backend_) {
    done(UnavailableError("session has no backend"));
    return;
  }
  if (probe_.active() || discard_ || !tracker_.at_transaction_boundary() || client_writer_.busy() ||
      server_write_cut_ || !client_scanner_.AtMessageBoundary() || !server_scanner_.AtMessageBoundary()) {
    done(UnavailableError(fmt::format("session is {}", SessionStateName(tracker_.State()))));
    return;
  }
  probe_.Begin(std::move(sql), std::move(done));
  // The supervisor starts its sender.
  WakeSupervisor();
}

void Relay::StartSendingProbe() {
  ++coroutines_;
  auto sender = std::make_shared<asio::cancellation_signal>();
  probe_.SenderStarted(sender);
  std::shared_ptr<void> keepalive = owner_.RelayKeepalive();
  auto sent = [this, sender, keepalive](std::exception_ptr failure) {
    --coroutines_;
    probe_.SenderEnded(sender.get());
    if (failure && !stopping_) {
      return Finish(RelayEnd{RelayEndReason::kCloseRequested, "relay failed", {}}, failure);
    }
    if (stopping_ && Stopped()) WakeSupervisor();
  };
  asio::co_spawn(client_.executor(), SendProbe(), asio::bind_cancellation_slot(sender->slot(), std::move(sent)));
}

Awaitable<void> Relay::SendProbe() {
  protocol::MessageWriter query;
  query.Begin(FrontendTag::kQuery).CString(probe_.TakeSql()).End();
  server_write_cut_ = true;
  auto [error, written] = co_await backend_->stream.WriteAll(query.bytes());
  if (error) {
    // Ends the probe, and with it a client pump's wait for it.
    probe_.Fail(error.message());
    co_return;
  }
  server_write_cut_ = false;
}

Awaitable<bool> Relay::WaitForProbe() {
  if (!probe_.active()) co_return true;
  // In the waiting coroutine's frame: only a pump that waits has one.
  asio::steady_timer waiter(client_.executor(), kProbeTimeout);
  probe_.SetWaiter(&waiter);
  co_await waiter.async_wait(kUseTuple);
  // Timed out or cancelled by the relay's end: the probe must not wake a
  // timer that is gone.
  probe_.SetWaiter(nullptr);
  co_return !probe_.active();
}

}  // namespace pgvalve::proxy
