#include "proxy/session_scope.h"

#include <spdlog/spdlog.h>

#include "proxy/client_address.h"
#include "proxy/log_text.h"

namespace pgvalve::proxy {

using std::chrono::steady_clock;

SessionScope::SessionScope(SessionRegistry& sessions, DatabaseRegistry& databases, CancelKeyMap& cancel_keys,
                           std::shared_ptr<DatabaseGate> gate)
    : sessions_(sessions), databases_(databases), cancel_keys_(cancel_keys), gate_(std::move(gate)) {}

void SessionScope::Register(std::shared_ptr<SessionRecord> record) {
  record_ = std::move(record);
  registered_at_ = steady_clock::now();
  sessions_.Add(record_);
}

void SessionScope::End(SessionEnd end, std::string_view reason, std::string detail) {
  end_ = end;
  reason_ = reason;
  detail_ = std::move(detail);
}

SessionScope::~SessionScope() {
  if (record_) {
    if (int32_t virtual_pid = record_->virtual_pid(); virtual_pid != 0) cancel_keys_.Unregister(virtual_pid);
    record_->MarkEnded(end_);
    sessions_.Remove(record_->id());
    const SessionIdentity& identity = record_->identity();
    const auto duration = std::chrono::duration<double>(steady_clock::now() - registered_at_);
    spdlog::info(
        "session {} closed ({}{}{}): client={} database={} user={} backend_pid={} duration={:.3f}s "
        "bytes_from_client={} bytes_to_client={}",
        record_->id(), reason_, detail_.empty() ? "" : ": ", EscapeForLog(detail_),
        ClientAddress{identity.client_address, identity.client_port}.ToString(),
        QuoteForLog(identity.database), QuoteForLog(identity.user), record_->backend_pid(), duration.count(),
        record_->counters().bytes_from_client(), record_->counters().bytes_to_client());
  }
  // A PAUSE or DRAIN waiting on this database re-counts, whatever the
  // session got to.
  if (gate_->watched()) gate_->NotifyWatchers();
  databases_.Release(gate_);
  sessions_.ReleaseSlot();
}

}  // namespace pgvalve::proxy
