#include "proxy/session_keeper.h"

#include <functional>
#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace pgvalve::proxy {
namespace {

// Something kept, carrying its own hold, as a session does.
struct Kept {
  SessionKeeper::Hold hold;
  std::function<void()> on_destroyed;
  ~Kept() {
    if (on_destroyed) on_destroyed();
  }
};

TEST(SessionKeeperTest, KeepsUntilReleasedAndHandsTheOwnerBack) {
  asio::io_context context;
  SessionKeeper& keeper = SessionKeeper::Of(context.get_executor());
  auto kept = std::make_shared<Kept>();
  std::weak_ptr<Kept> watch = kept;
  keeper.Keep(kept->hold, kept);
  kept.reset();
  ASSERT_FALSE(watch.expired());
  EXPECT_EQ(keeper.size(), 1u);

  std::shared_ptr<void> owner = SessionKeeper::Release(watch.lock()->hold);
  EXPECT_EQ(keeper.size(), 0u);
  EXPECT_FALSE(watch.expired());
  owner.reset();
  EXPECT_TRUE(watch.expired());
}

TEST(SessionKeeperTest, ReleasingWhatIsNotKeptGivesNothing) {
  asio::io_context context;
  SessionKeeper& keeper = SessionKeeper::Of(context.get_executor());
  Kept kept;
  EXPECT_EQ(SessionKeeper::Release(kept.hold), nullptr);
  auto owner = std::make_shared<int>(1);
  keeper.Keep(kept.hold, owner);
  EXPECT_EQ(SessionKeeper::Release(kept.hold), owner);
  EXPECT_EQ(SessionKeeper::Release(kept.hold), nullptr);
}

TEST(SessionKeeperTest, EachIoContextHasItsOwn) {
  asio::io_context first;
  asio::io_context second;
  EXPECT_NE(&SessionKeeper::Of(first.get_executor()), &SessionKeeper::Of(second.get_executor()));
  EXPECT_EQ(&SessionKeeper::Of(first.get_executor()), &SessionKeeper::Of(first.get_executor()));
}

TEST(SessionKeeperTest, KeepsAnyNumberAndReleasesInAnyOrder) {
  asio::io_context context;
  SessionKeeper& keeper = SessionKeeper::Of(context.get_executor());
  std::vector<std::shared_ptr<Kept>> all;
  for (int i = 0; i < 5; ++i) {
    all.push_back(std::make_shared<Kept>());
    keeper.Keep(all.back()->hold, all.back());
  }
  for (int i : {2, 0, 4, 1, 3}) {
    EXPECT_EQ(SessionKeeper::Release(all[i]->hold), all[i]);
  }
  EXPECT_EQ(keeper.size(), 0u);
}

TEST(SessionKeeperTest, TheIoContextsEndLetsGoOfWhatIsStillKept) {
  // Outlives the io_context: its hold stays valid throughout the shutdown.
  Kept other;
  std::weak_ptr<Kept> first_watch;
  std::weak_ptr<void> other_owner_watch;
  std::shared_ptr<void> released_during_shutdown = std::make_shared<int>(0);
  {
    asio::io_context context;
    SessionKeeper& keeper = SessionKeeper::Of(context.get_executor());
    auto first = std::make_shared<Kept>();
    first_watch = first;
    auto other_owner = std::make_shared<int>(2);
    other_owner_watch = other_owner;
    // A kept object whose destruction reaches the keeper again, as a
    // session ending another's work would: by then every hold is let go.
    first->on_destroyed = [&other, &released_during_shutdown] {
      released_during_shutdown = SessionKeeper::Release(other.hold);
    };
    keeper.Keep(other.hold, other_owner);
    keeper.Keep(first->hold, first);
  }
  EXPECT_TRUE(first_watch.expired());
  EXPECT_TRUE(other_owner_watch.expired());
  EXPECT_EQ(released_during_shutdown, nullptr);
  EXPECT_EQ(SessionKeeper::Release(other.hold), nullptr);
}

}  // namespace
}  // namespace pgvalve::proxy
