// The transaction latency histograms: bucket bounds inclusive, counts
// cumulative when read, each thread's histograms its own and summed at
// read, and the number of database names bounded.

#include "proxy/transaction_latencies.h"

#include <thread>

#include "gtest/gtest.h"

namespace pgvalve::proxy {
namespace {

TEST(LatencyHistogramTest, BoundsAreInclusiveAndCountsCumulative) {
  LatencyHistogram histogram;
  histogram.Add(0);
  histogram.Add(500);    // the first bucket's bound
  histogram.Add(501);    // the second's
  histogram.Add(60'000'001);  // beyond the last bound: +Inf only
  const LatencyCounts counts = histogram.Load();
  EXPECT_EQ(counts.cumulative[0], 2u);
  EXPECT_EQ(counts.cumulative[1], 3u);
  EXPECT_EQ(counts.cumulative[kTransactionMicrosBuckets.size() - 1], 3u);
  EXPECT_EQ(counts.count(), 4u);
  EXPECT_EQ(counts.sum_us, 0u + 500 + 501 + 60'000'001);
}

TEST(TransactionLatenciesTest, EachThreadWritesItsOwnHistogramAndReadSumsThem) {
  TransactionLatencies latencies(10);
  LatencyHistogram& here = latencies.ForThisThread("app");
  EXPECT_EQ(&latencies.ForThisThread("app"), &here) << "one histogram per thread and database";
  LatencyHistogram* there = nullptr;
  std::thread other([&] {
    there = &latencies.ForThisThread("app");
    there->Add(2'000);
  });
  other.join();
  EXPECT_NE(there, &here);
  here.Add(100);

  const TransactionLatencies::Totals totals = latencies.Read();
  ASSERT_EQ(totals.by_database.size(), 1u);
  const LatencyCounts& app = totals.by_database.at("app");
  EXPECT_EQ(app.count(), 2u);
  EXPECT_EQ(app.cumulative[0], 1u);
  EXPECT_EQ(app.sum_us, 2'100u);
  EXPECT_FALSE(totals.has_others);
}

TEST(TransactionLatenciesTest, NamesBeyondTheLimitShareTheOthersHistogram) {
  TransactionLatencies latencies(2);
  latencies.ForThisThread("a").Add(1);
  latencies.ForThisThread("b").Add(1);
  LatencyHistogram& c = latencies.ForThisThread("c");
  EXPECT_EQ(&latencies.ForThisThread("d"), &c);
  c.Add(1);
  // A name that already has one keeps it, on another thread too.
  std::thread other([&] { latencies.ForThisThread("a").Add(1); });
  other.join();

  const TransactionLatencies::Totals totals = latencies.Read();
  EXPECT_EQ(totals.by_database.size(), 2u);
  EXPECT_EQ(totals.by_database.at("a").count(), 2u);
  ASSERT_TRUE(totals.has_others);
  EXPECT_EQ(totals.others.count(), 1u);
}

}  // namespace
}  // namespace pgvalve::proxy
