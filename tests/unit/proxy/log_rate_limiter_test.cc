#include "proxy/log_rate_limiter.h"

#include <gtest/gtest.h>

namespace pgvalve::proxy {
namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

class LogRateLimiterTest : public ::testing::Test {
 protected:
  steady_clock::time_point now_ = steady_clock::time_point(100s);
  LogRateLimiter limiter_{"bogus cancel requests", 3, 10s, [this] { return now_; }};

  int AdmitMany(int count) {
    int logged = 0;
    for (int i = 0; i < count; ++i) logged += limiter_.Admit().log ? 1 : 0;
    return logged;
  }
};

TEST_F(LogRateLimiterTest, LogsTheFirstBurstOfAnIntervalAndCountsTheRest) {
  EXPECT_EQ(AdmitMany(1000), 3);
  EXPECT_EQ(limiter_.suppressed_total(), 997u);
  // The interval is not over: nothing to summarise yet.
  now_ += 9s;
  EXPECT_EQ(limiter_.TakeSummary(), std::nullopt);
  EXPECT_FALSE(limiter_.Admit().log);
}

TEST_F(LogRateLimiterTest, TheFirstOccurrenceAfterTheIntervalCarriesTheSummary) {
  AdmitMany(10);
  now_ += 12s;
  const LogRateLimiter::Decision next = limiter_.Admit();
  EXPECT_TRUE(next.log);
  EXPECT_EQ(next.summary, "7 more bogus cancel requests suppressed in the last 12.0s");
  // A new interval: its own burst, no summary repeated.
  EXPECT_EQ(AdmitMany(2), 2);
  EXPECT_FALSE(limiter_.Admit().log);
}

TEST_F(LogRateLimiterTest, AFloodThatStopsIsSummarisedByTheFlush) {
  AdmitMany(5);
  now_ += 10s;
  EXPECT_EQ(limiter_.TakeSummary(), "2 more bogus cancel requests suppressed in the last 10.0s");
  EXPECT_EQ(limiter_.TakeSummary(), std::nullopt);
  now_ += 30s;
  EXPECT_EQ(limiter_.TakeSummary(), std::nullopt);
}

TEST_F(LogRateLimiterTest, TheFinalSummaryDoesNotWaitForTheInterval) {
  AdmitMany(4);
  now_ += 1s;
  EXPECT_EQ(limiter_.TakeSummary(), std::nullopt);
  EXPECT_EQ(limiter_.TakeFinalSummary(), "1 more bogus cancel requests suppressed in the last 1.0s");
  EXPECT_EQ(limiter_.TakeFinalSummary(), std::nullopt);
}

TEST_F(LogRateLimiterTest, QuietIntervalsHaveNoSummary) {
  AdmitMany(3);
  now_ += 11s;
  const LogRateLimiter::Decision next = limiter_.Admit();
  EXPECT_TRUE(next.log);
  EXPECT_EQ(next.summary, std::nullopt);
}

}  // namespace
}  // namespace pgvalve::proxy
