#include "proxy/relay.h"

// The seam pooling will use: the relay lets go of its backend at a
// transaction boundary and takes another. In 1:1 mode nothing asks for it;
// what it costs there is a null check before each server receive.

namespace pgvalve::proxy {

bool Relay::ReleaseBackendWhenIdle(BackendReleased released) {
  if (!backend_ || stopping_ || release_) return false;
  release_ = std::make_unique<BackendReleased>(std::move(released));
  // A server pump already waiting at the boundary is taken off its
  // receive; OnServerReceived comes back to ArmServerReceive, which lets
  // go if the session is still there (and relays whatever the receive had
  // found first, if anything).
  if (server_pump_.state == PumpState::kReceiving && BackendReleasable()) backend_->stream.CancelReceive();
  return true;
}

bool Relay::BackendReleasable() const {
  return tracker_.at_transaction_boundary() && server_buffer_.empty() && server_scanner_.AtMessageBoundary() &&
         client_scanner_.AtMessageBoundary() && !client_pump_.scan && !server_has_turn_ && !server_write_cut_ &&
         !probe_.active() && !discard_;
}

void Relay::ReleaseBackend() {
  server_pump_.state = PumpState::kParked;
  BackendLink& link = *std::exchange(backend_, nullptr);
  SharedBackendKey shared_key = record_.TakeBackend();
  std::optional<BackendKey> key;
  if (shared_key) key = *shared_key;
  // A cancel for this session now has nothing to cancel.
  if (record_.virtual_pid() != 0) cancel_keys_.Retarget(record_.virtual_pid(), nullptr);
  // Nothing is buffered (BackendReleasable); the storage serves others.
  server_buffer_.Release();
  const std::unique_ptr<BackendReleased> released = std::move(release_);
  (*released)(link, std::move(key));
}

bool Relay::AttachBackend(BackendLink& link, std::optional<BackendKey> key) {
  if (backend_ || stopping_) return false;
  backend_ = &link;
  record_.SetUpstream(link.upstream_name);
  if (key) {
    auto shared_key = std::make_shared<const BackendKey>(*std::move(key));
    if (record_.virtual_pid() != 0) cancel_keys_.Retarget(record_.virtual_pid(), shared_key);
    record_.SetBackend(record_.virtual_pid(), std::move(shared_key));
  }
  // This connection's state is unknown to the relay: its first read checks
  // for a close as well.
  server_may_close_ = true;
  ArmServerReceive();
  EndWaitForBackend();
  return true;
}

}  // namespace pgvalve::proxy
