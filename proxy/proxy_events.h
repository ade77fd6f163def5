#pragma once
// Counts of what happens around sessions, off the relay's path, for
// /metrics: refusals by reason, the SQLSTATEs of the errors pgvalve itself
// sent to clients, cancel requests, connections to upstreams (latency
// histogram, failures) and how long PAUSE held requests and new sessions.
// Written where those happen (a refusal, a session's start, a cancel
// request, a hold's end: never per message), from any worker; read at
// scrape time. Also the home of the transaction latency histograms, which
// are written per transaction and so keep to their own rules
// (transaction_latencies.h).

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/database_gate.h"
#include "proxy/session_registry.h"
#include "proxy/transaction_latencies.h"

namespace pgvalve::proxy {

// Why a client was refused before its session started.
enum class Refusal : uint8_t {
  kAccessRule,           // no rule allowed it (28000)
  kNoRoute,              // no route for its database (3D000)
  kTooManyClients,       // max_client_connections (53300)
  kDisabled,             // DISABLE of its database (55000)
  kPausedTimeout,        // held by PAUSE past hold_timeout (57P03)
  kUpstreamUnreachable,  // no connection to the upstream (08006)
  kTlsRequired,          // a plain connection where TLS is required (28000)
  kStartingUp,           // before a fleet member applied the shared state (57P03)
};
inline constexpr size_t kRefusalCount = 8;
std::string_view RefusalName(Refusal refusal);

// Upper bounds of the upstream connect-latency histogram's buckets, in
// seconds; +Inf follows.
inline constexpr std::array<double, 12> kConnectSecondsBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                  0.05,   0.1,   0.25,   0.5,   1,    2.5};

// Upper bounds of the hold-time histogram's buckets, in seconds; +Inf
// follows. A hold lasts at most proxy.hold_timeout unless RESUME comes.
inline constexpr std::array<double, 14> kHoldSecondsBuckets = {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5,
                                                               1,     2.5,   5,    10,   30,  60,   300};

// A histogram over seconds with fixed bounds, cumulative as Prometheus
// wants it: buckets[i] counts observations of at most bounds[i]; the last
// is +Inf.
template <size_t kBounds>
struct SecondsHistogram {
  std::array<uint64_t, kBounds + 1> buckets{};
  uint64_t count = 0;
  double seconds = 0;

  void Add(const std::array<double, kBounds>& bounds, double value) {
    for (size_t i = 0; i < kBounds; ++i) {
      if (value <= bounds[i]) ++buckets[i];
    }
    ++buckets.back();
    ++count;
    seconds += value;
  }
};

struct UpstreamConnects {
  SecondsHistogram<kConnectSecondsBuckets.size()> latency;
  uint64_t failures = 0;
};

class ProxyEvents {
 public:
  void Refused(Refusal refusal) { refusals_[static_cast<size_t>(refusal)].fetch_add(1, std::memory_order_relaxed); }
  // An ErrorResponse pgvalve wrote itself (not one a server sent).
  void ErrorSent(std::string_view sqlstate);
  void CancelRequest(bool matched) {
    (matched ? cancels_matched_ : cancels_unmatched_).fetch_add(1, std::memory_order_relaxed);
  }
  // A cancel request for another fleet instance's session, sent on to it.
  void CancelRouted() { cancels_routed_.fetch_add(1, std::memory_order_relaxed); }
  void UpstreamConnected(std::string_view upstream, std::chrono::steady_clock::duration took);
  void UpstreamConnectFailed(std::string_view upstream);
  // A request or a new session waited `waited` for RESUME (or for its
  // hold_timeout, or until its client left).
  void HoldEnded(HoldKind kind, std::chrono::steady_clock::duration waited);

  TransactionLatencies& transaction_latencies() { return transaction_latencies_; }
  const TransactionLatencies& transaction_latencies() const { return transaction_latencies_; }

  struct Snapshot {
    std::array<uint64_t, kRefusalCount> refusals{};
    std::map<std::string, uint64_t> errors_sent;  // by SQLSTATE
    uint64_t cancels_matched = 0;
    uint64_t cancels_unmatched = 0;
    uint64_t cancels_routed = 0;
    std::map<std::string, UpstreamConnects> upstream_connects;  // by upstream
    using HoldSeconds = SecondsHistogram<kHoldSecondsBuckets.size()>;
    HoldSeconds held_requests;
    HoldSeconds held_new_sessions;
  };
  Snapshot Read() const;

 private:
  std::array<std::atomic<uint64_t>, kRefusalCount> refusals_{};
  std::atomic<uint64_t> cancels_matched_{0};
  std::atomic<uint64_t> cancels_unmatched_{0};
  std::atomic<uint64_t> cancels_routed_{0};
  // Keyed by text: a lock, taken once per error or connection.
  mutable std::mutex mutex_;
  std::map<std::string, uint64_t, std::less<>> errors_sent_;
  std::map<std::string, UpstreamConnects, std::less<>> upstream_connects_;
  Snapshot::HoldSeconds held_requests_;
  Snapshot::HoldSeconds held_new_sessions_;

  TransactionLatencies transaction_latencies_{SessionRegistry::kMaxDatabasesWithCounters};
};

}  // namespace pgvalve::proxy
