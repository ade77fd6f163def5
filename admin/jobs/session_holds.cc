#include "admin/jobs/session_holds.h"

#include "proxy/status_text.h"
#include "upstream/activity_queries.h"

namespace pgvalve::admin {
namespace {

constexpr std::chrono::seconds kProbeWait{2};

}  // namespace

proxy::Awaitable<std::map<uint64_t, SessionHolds>> ProbeSessionHolds(
    const std::vector<std::shared_ptr<proxy::SessionRecord>>& sessions) {
  struct Pending {
    explicit Pending(proxy::asio::any_io_executor executor)
        : timer(executor, std::chrono::steady_clock::now() + kProbeWait) {}
    proxy::asio::steady_timer timer;
    std::map<uint64_t, SessionHolds> holds;
    size_t outstanding = 0;
  };
  auto executor = co_await proxy::asio::this_coro::executor;
  auto pending = std::make_shared<Pending>(executor);
  for (const auto& record : sessions) {
    auto control = record->control();
    if (!control || record->state() != proxy::SessionState::kIdle) continue;
    ++pending->outstanding;
    const uint64_t id = record->id();
    control->Probe(std::string(upstream::kSessionHoldsProbe),
                   [executor, pending, id](proxy::SessionControl::ProbeResult result) {
                     // Back to the admin thread, where `pending` is used.
                     proxy::asio::post(executor, [pending, id, result = std::move(result)] {
                       SessionHolds& holds = pending->holds[id];
                       if (!result.ok()) {
                         holds.unavailable = std::string(proxy::StatusText(result.status()));
                       } else if (result->size() == 2) {
                         holds.temp_tables = (*result)[0];
                         holds.listening = (*result)[1];
                       }
                       if (--pending->outstanding == 0) pending->timer.cancel();
                     });
                   });
  }
  if (pending->outstanding > 0) co_await pending->timer.async_wait(proxy::kUseTuple);
  co_return pending->holds;
}

}  // namespace pgvalve::admin
