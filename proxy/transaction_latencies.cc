#include "proxy/transaction_latencies.h"

namespace pgvalve::proxy {

LatencyCounts& LatencyCounts::operator+=(const LatencyCounts& other) {
  for (size_t i = 0; i < cumulative.size(); ++i) cumulative[i] += other.cumulative[i];
  sum_us += other.sum_us;
  return *this;
}

LatencyCounts LatencyHistogram::Load() const {
  LatencyCounts counts;
  uint64_t below = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    below += buckets_[i].load(std::memory_order_relaxed);
    counts.cumulative[i] = below;
  }
  counts.sum_us = sum_us_.load(std::memory_order_relaxed);
  return counts;
}

LatencyHistogram& TransactionLatencies::ForThisThread(std::string_view database) {
  std::lock_guard lock(mutex_);
  ThreadHistograms& histograms = threads_[std::this_thread::get_id()];
  if (auto found = histograms.by_database.find(database); found != histograms.by_database.end()) {
    return *found->second;
  }
  if (databases_.contains(database) || databases_.size() < max_databases_) {
    databases_.emplace(database);
    auto added = histograms.by_database.emplace(std::string(database), std::make_unique<LatencyHistogram>());
    return *added.first->second;
  }
  if (!histograms.others) histograms.others = std::make_unique<LatencyHistogram>();
  return *histograms.others;
}

TransactionLatencies::Totals TransactionLatencies::Read() const {
  Totals totals;
  std::lock_guard lock(mutex_);
  for (const auto& [thread, histograms] : threads_) {
    for (const auto& [database, histogram] : histograms.by_database) {
      totals.by_database[database] += histogram->Load();
    }
    if (histograms.others) {
      totals.others += histograms.others->Load();
      totals.has_others = true;
    }
  }
  return totals;
}

}  // namespace pgvalve::proxy
