#pragma once
// The per-database transaction latency histograms /metrics shows. The relay
// adds a transaction to one at each transaction's end, so that must cost no
// lock and no allocation: each worker thread has histograms of its own,
// which only it writes (a relaxed load and store, as the session counters),
// and a scrape sums them. A session picks its histogram once, when its
// backend accepted it; only then does the mutex below come into play.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>

namespace pgvalve::proxy {

// Upper bounds of the buckets, in microseconds; +Inf follows.
inline constexpr std::array<uint64_t, 16> kTransactionMicrosBuckets = {
    500, 1'000, 2'500, 5'000, 10'000, 25'000, 50'000, 100'000, 250'000, 500'000,
    1'000'000, 2'500'000, 5'000'000, 10'000'000, 30'000'000, 60'000'000};

// A histogram as Prometheus wants it: cumulative[i] counts the transactions
// that took at most kTransactionMicrosBuckets[i]; the last is +Inf, the
// count of all.
struct LatencyCounts {
  std::array<uint64_t, kTransactionMicrosBuckets.size() + 1> cumulative{};
  uint64_t sum_us = 0;

  uint64_t count() const { return cumulative.back(); }
  LatencyCounts& operator+=(const LatencyCounts& other);
};

// Written by one thread only; read by any.
class LatencyHistogram {
 public:
  void Add(uint64_t micros) {
    size_t bucket = 0;
    while (bucket < kTransactionMicrosBuckets.size() && micros > kTransactionMicrosBuckets[bucket]) ++bucket;
    Bump(buckets_[bucket], 1);
    Bump(sum_us_, micros);
  }

  LatencyCounts Load() const;

 private:
  static void Bump(std::atomic<uint64_t>& value, uint64_t by) {
    value.store(value.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  // Not cumulative: one bucket written per transaction.
  std::array<std::atomic<uint64_t>, kTransactionMicrosBuckets.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_us_{0};
};

class TransactionLatencies {
 public:
  // The calling thread's histogram for `database`, for the sessions of this
  // thread only. Beyond `max_databases` names across all threads (a client
  // chooses its database name), the thread's histogram for the others.
  explicit TransactionLatencies(size_t max_databases) : max_databases_(max_databases) {}

  LatencyHistogram& ForThisThread(std::string_view database);

  struct Totals {
    std::map<std::string, LatencyCounts> by_database;
    LatencyCounts others;
    bool has_others = false;
  };
  // Summed over the threads.
  Totals Read() const;

 private:
  struct ThreadHistograms {
    std::map<std::string, std::unique_ptr<LatencyHistogram>, std::less<>> by_database;
    std::unique_ptr<LatencyHistogram> others;
  };

  const size_t max_databases_;
  mutable std::mutex mutex_;
  std::map<std::thread::id, ThreadHistograms> threads_;
  std::set<std::string, std::less<>> databases_;
};

}  // namespace pgvalve::proxy
