#pragma once
// Counts of what happens around sessions, off the relay's path, for
// /metrics: refusals by reason, the SQLSTATEs of the errors pgvalve itself
// sent to clients, cancel requests, and connections to upstreams (latency
// histogram, failures). Written where those happen (a refusal, a session's
// start, a cancel request: never per message), from any worker; read at
// scrape time.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

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
};
inline constexpr size_t kRefusalCount = 7;
std::string_view RefusalName(Refusal refusal);

// Upper bounds of the upstream connect-latency histogram's buckets, in
// seconds; +Inf follows.
inline constexpr std::array<double, 12> kConnectSecondsBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                  0.05,   0.1,   0.25,   0.5,   1,    2.5};

struct UpstreamConnects {
  // Cumulative, as Prometheus wants them: [i] counts connections that took
  // at most kConnectSecondsBuckets[i]; the last is +Inf.
  std::array<uint64_t, kConnectSecondsBuckets.size() + 1> buckets{};
  uint64_t count = 0;
  double seconds = 0;
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
  void UpstreamConnected(std::string_view upstream, std::chrono::steady_clock::duration took);
  void UpstreamConnectFailed(std::string_view upstream);

  struct Snapshot {
    std::array<uint64_t, kRefusalCount> refusals{};
    std::map<std::string, uint64_t> errors_sent;  // by SQLSTATE
    uint64_t cancels_matched = 0;
    uint64_t cancels_unmatched = 0;
    std::map<std::string, UpstreamConnects> upstream_connects;  // by upstream
  };
  Snapshot Read() const;

 private:
  std::array<std::atomic<uint64_t>, kRefusalCount> refusals_{};
  std::atomic<uint64_t> cancels_matched_{0};
  std::atomic<uint64_t> cancels_unmatched_{0};
  // Keyed by text: a lock, taken once per error or connection.
  mutable std::mutex mutex_;
  std::map<std::string, uint64_t, std::less<>> errors_sent_;
  std::map<std::string, UpstreamConnects, std::less<>> upstream_connects_;
};

}  // namespace pgvalve::proxy
