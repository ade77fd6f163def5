#include "proxy/relay.h"

#include "fmt/format.h"
#include "protocol/backend_messages.h"
#include "protocol/message_writer.h"
#include "proxy/status_text.h"

// The relay's probe (SessionControl::Probe): a query of pgvalve's own, run
// on the session's backend between two of the client's requests.

namespace pgvalve::proxy {

using protocol::BackendTag;
using protocol::FrontendTag;

namespace {
// A probe that gets no answer in this time leaves the session in an
// unknown state, so the session is closed.
constexpr std::chrono::seconds kProbeTimeout{10};
}  // namespace

void Relay::StartProbe(std::string sql, std::function<void(SessionControl::ProbeResult)> done) {
  // Only between transactions, and only when neither direction is inside a
  // message, so the probe's Query and its replies stand on their own.
  if (probe_ || discard_ || !tracker_.at_transaction_boundary() || client_writer_.busy() ||
      server_write_cut_ || !client_scanner_.AtMessageBoundary() ||
      !server_scanner_.AtMessageBoundary()) {
    done(UnavailableError(fmt::format("session is {}", SessionStateName(tracker_.State()))));
    return;
  }
  probe_ = Probe{.done = std::move(done), .sql_to_send = std::move(sql)};
  // WatchControl sends it: a coroutine the relay waits for when it ends.
  WakeControl();
}

Awaitable<void> Relay::SendProbe() {
  protocol::MessageWriter query;
  query.Begin(FrontendTag::kQuery).CString(*probe_->sql_to_send).End();
  probe_->sql_to_send.reset();
  server_write_cut_ = true;
  auto [error, written] = co_await backend_.stream.WriteAll(query.bytes());
  if (error) {
    probe_->error = error.message();
    FinishProbe();
    co_return;
  }
  server_write_cut_ = false;
}

void Relay::FinishProbe() {
  Probe probe = *std::move(probe_);
  probe_.reset();
  probe_done_.cancel();
  if (probe.error) {
    probe.done(UnavailableError(*probe.error));
  } else {
    probe.done(probe.first_row.value_or(std::vector<std::optional<std::string>>{}));
  }
}

absl::Status Relay::ConsumeProbeReply(char tag, std::span<const std::byte> body) {
  switch (static_cast<BackendTag>(tag)) {
    case BackendTag::kDataRow: {
      if (probe_->first_row) break;
      auto values = protocol::ParseDataRow(body);
      if (!values.ok()) return values.status();
      auto& row = probe_->first_row.emplace();
      for (const auto& value : *values) {
        row.push_back(value ? std::optional<std::string>(std::string(*value)) : std::nullopt);
      }
      break;
    }
    case BackendTag::kErrorResponse: {
      auto fields = protocol::ParseErrorOrNotice(body);
      if (!fields.ok()) return fields.status();
      probe_->error = std::string(fields->message);
      break;
    }
    case BackendTag::kReadyForQuery:
      FinishProbe();
      break;
    default:
      break;  // RowDescription, CommandComplete, notices: nothing to keep
  }
  return absl::OkStatus();
}

Awaitable<bool> Relay::WaitForProbe() {
  probe_done_.expires_after(kProbeTimeout);
  co_await probe_done_.async_wait(kUseTuple);
  co_return !probe_.has_value();
}

}  // namespace pgvalve::proxy
