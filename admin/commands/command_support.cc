#include "admin/commands/command_support.h"

#include <spdlog/spdlog.h>

#include "fmt/format.h"
#include "proxy/status_text.h"

namespace pgvalve::admin {

std::vector<std::shared_ptr<proxy::SessionRecord>> SessionsOf(const proxy::SessionRegistry& sessions,
                                                             std::string_view database) {
  std::vector<std::shared_ptr<proxy::SessionRecord>> matching;
  for (auto& record : sessions.All()) {
    if (record->identity().database == database) matching.push_back(std::move(record));
  }
  return matching;
}

std::string DescribeSession(const proxy::SessionRecord& record,
                            std::chrono::system_clock::time_point now) {
  const proxy::SessionState state = record.state();
  std::string text = fmt::format("client {} (backend pid {}, {}", record.id(),
                                 record.backend_pid(), proxy::SessionStateName(state));
  if (state == proxy::SessionState::kActive || state == proxy::SessionState::kIdleInTransaction ||
      state == proxy::SessionState::kIdleInFailedTransaction) {
    std::chrono::duration<double> age = now - record.transaction_start();
    text += fmt::format(", transaction age {:.1f} s", age.count());
  }
  return text + ")";
}

GateWatcher::GateWatcher(proxy::asio::any_io_executor executor,
                         std::shared_ptr<proxy::DatabaseGate> gate)
    : signal_(std::make_shared<Signal>(executor)), gate_(std::move(gate)) {
  ticket_ = gate_->Watch([executor, weak = std::weak_ptr<Signal>(signal_)] {
    proxy::asio::post(executor, [weak] {
      if (auto signal = weak.lock()) {
        signal->pending = true;
        signal->timer.cancel();
      }
    });
  });
}

GateWatcher::~GateWatcher() { gate_->Unwatch(ticket_); }

void GateWatcher::Wake() {
  signal_->pending = true;
  signal_->timer.cancel();
}

Awaitable<void> GateWatcher::WaitUntil(std::chrono::steady_clock::time_point deadline) {
  if (!signal_->pending) {
    signal_->timer.expires_at(deadline);
    co_await signal_->timer.async_wait(proxy::kUseTuple);
  }
  signal_->pending = false;
}

}  // namespace pgvalve::admin
