#include "proxy/startup_limiter.h"

#include <gtest/gtest.h>

#include <vector>

namespace pgvalve::proxy {
namespace {

using Refusal = StartupLimiter::Refusal;

TEST(StartupLimiterTest, BoundsConnectionsPerAddressAndInAll) {
  StartupLimiter limiter;
  std::vector<StartupTicket> held;
  for (int i = 0; i < 2; ++i) {
    auto entry = limiter.TryEnter("10.0.0.1", 3, 2);
    ASSERT_EQ(entry.refusal, Refusal::kNone);
    held.push_back(std::move(entry.ticket));
  }
  EXPECT_EQ(limiter.TryEnter("10.0.0.1", 3, 2).refusal, Refusal::kPerAddress);
  auto other = limiter.TryEnter("10.0.0.2", 3, 2);
  ASSERT_EQ(other.refusal, Refusal::kNone);
  EXPECT_EQ(limiter.TryEnter("10.0.0.3", 3, 2).refusal, Refusal::kTotal);
  EXPECT_EQ(limiter.in_startup(), 3u);

  held[0].Release();
  held[0].Release();  // idempotent
  EXPECT_EQ(limiter.in_startup(), 2u);
  EXPECT_EQ(limiter.TryEnter("10.0.0.1", 3, 2).refusal, Refusal::kNone);  // released at once
}

TEST(StartupLimiterTest, UnixSocketClientsCountOnlyInTheTotal) {
  StartupLimiter limiter;
  std::vector<StartupTicket> held;
  for (int i = 0; i < 5; ++i) {
    auto entry = limiter.TryEnter("unix", 5, 1);
    ASSERT_EQ(entry.refusal, Refusal::kNone) << i;
    held.push_back(std::move(entry.ticket));
  }
  EXPECT_EQ(limiter.TryEnter("unix", 5, 1).refusal, Refusal::kTotal);
  held.clear();
  EXPECT_EQ(limiter.in_startup(), 0u);
}

TEST(StartupLimiterTest, AMovedTicketIsGivenBackOnce) {
  StartupLimiter limiter;
  {
    StartupTicket outer;
    {
      auto entry = limiter.TryEnter("10.0.0.1", 1, 1);
      outer = std::move(entry.ticket);
    }
    EXPECT_EQ(limiter.in_startup(), 1u);
  }
  EXPECT_EQ(limiter.in_startup(), 0u);
  EXPECT_EQ(limiter.TryEnter("10.0.0.1", 1, 1).refusal, Refusal::kNone);
}

}  // namespace
}  // namespace pgvalve::proxy
