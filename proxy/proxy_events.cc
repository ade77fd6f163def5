#include "proxy/proxy_events.h"

namespace pgvalve::proxy {
namespace {

// SQLSTATEs are five characters; anything else is counted under one name,
// so that no text can grow the map.
constexpr std::string_view kMalformedSqlState = "?????";

template <typename Map>
auto& EntryFor(Map& map, std::string_view key) {
  auto found = map.find(key);
  if (found == map.end()) found = map.emplace(std::string(key), typename Map::mapped_type{}).first;
  return found->second;
}

}  // namespace

std::string_view RefusalName(Refusal refusal) {
  switch (refusal) {
    case Refusal::kAccessRule: return "access_rule";
    case Refusal::kNoRoute: return "no_route";
    case Refusal::kTooManyClients: return "max_client_connections";
    case Refusal::kDisabled: return "disabled";
    case Refusal::kPausedTimeout: return "paused_timeout";
    case Refusal::kUpstreamUnreachable: return "upstream_unreachable";
    case Refusal::kTlsRequired: return "tls_required";
    case Refusal::kStartingUp: return "starting_up";
  }
  return "unknown";
}

void ProxyEvents::ErrorSent(std::string_view sqlstate) {
  if (sqlstate.size() != 5) sqlstate = kMalformedSqlState;
  std::lock_guard lock(mutex_);
  ++EntryFor(errors_sent_, sqlstate);
}

void ProxyEvents::UpstreamConnected(std::string_view upstream, std::chrono::steady_clock::duration took) {
  const double seconds = std::chrono::duration<double>(took).count();
  std::lock_guard lock(mutex_);
  EntryFor(upstream_connects_, upstream).latency.Add(kConnectSecondsBuckets, seconds);
}

void ProxyEvents::UpstreamConnectFailed(std::string_view upstream) {
  std::lock_guard lock(mutex_);
  ++EntryFor(upstream_connects_, upstream).failures;
}

void ProxyEvents::HoldEnded(HoldKind kind, std::chrono::steady_clock::duration waited) {
  const double seconds = std::chrono::duration<double>(waited).count();
  std::lock_guard lock(mutex_);
  (kind == HoldKind::kNewSession ? held_new_sessions_ : held_requests_).Add(kHoldSecondsBuckets, seconds);
}

ProxyEvents::Snapshot ProxyEvents::Read() const {
  Snapshot snapshot;
  for (size_t i = 0; i < kRefusalCount; ++i) snapshot.refusals[i] = refusals_[i].load(std::memory_order_relaxed);
  snapshot.cancels_matched = cancels_matched_.load(std::memory_order_relaxed);
  snapshot.cancels_unmatched = cancels_unmatched_.load(std::memory_order_relaxed);
  snapshot.cancels_routed = cancels_routed_.load(std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  snapshot.errors_sent.insert(errors_sent_.begin(), errors_sent_.end());
  snapshot.upstream_connects.insert(upstream_connects_.begin(), upstream_connects_.end());
  snapshot.held_requests = held_requests_;
  snapshot.held_new_sessions = held_new_sessions_;
  return snapshot;
}

}  // namespace pgvalve::proxy
