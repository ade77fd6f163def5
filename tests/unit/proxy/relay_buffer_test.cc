// RelayBuffer holds pooled storage only while bytes sit in it, so that an
// idle session costs no buffer; these tests follow the storage between a
// buffer and its thread's pool.

#include "proxy/relay_buffer.h"

#include <thread>

#include "gtest/gtest.h"
#include "proxy/buffer_pool.h"

namespace pgvalve::proxy {
namespace {

constexpr size_t kCapacity = 4096;

// Every test runs on a thread of its own, so each starts with an empty pool.
template <typename Body>
void OnFreshThread(Body body) {
  std::thread thread(body);
  thread.join();
}

TEST(RelayBufferTest, HoldsNoStorageUntilBytesAreAboutToArrive) {
  OnFreshThread([] {
    RelayBuffer buffer(kCapacity);
    EXPECT_FALSE(buffer.holds_storage());
    EXPECT_TRUE(buffer.filled().empty());
    EXPECT_EQ(buffer.free_space().size(), kCapacity);
    EXPECT_TRUE(buffer.holds_storage());
  });
}

TEST(RelayBufferTest, ReleaseReturnsEmptyStorageToThePoolForTheNextBuffer) {
  OnFreshThread([] {
    BufferPool& pool = BufferPool::ForThisThread();
    RelayBuffer first(kCapacity);
    std::byte* storage = first.free_space().data();
    first.Release();
    EXPECT_FALSE(first.holds_storage());
    EXPECT_EQ(pool.free_buffers(), 1u);

    RelayBuffer second(kCapacity);
    EXPECT_EQ(second.free_space().data(), storage);
    EXPECT_EQ(pool.free_buffers(), 0u);
  });
}

TEST(RelayBufferTest, KeepsStorageWhileBytesRemain) {
  OnFreshThread([] {
    RelayBuffer buffer(kCapacity);
    buffer.free_space()[0] = std::byte{'Q'};
    buffer.free_space()[1] = std::byte{0};
    buffer.Commit(2);
    buffer.Release();
    ASSERT_TRUE(buffer.holds_storage());
    EXPECT_EQ(buffer.filled().size(), 2u);

    buffer.Consume(1);
    EXPECT_EQ(buffer.filled()[0], std::byte{0});
    buffer.Consume(1);
    buffer.Release();
    EXPECT_FALSE(buffer.holds_storage());
  });
}

TEST(RelayBufferTest, DestructionGivesStorageBack) {
  OnFreshThread([] {
    { RelayBuffer buffer(kCapacity); buffer.free_space(); }
    EXPECT_EQ(BufferPool::ForThisThread().free_buffers(), 1u);
  });
}

TEST(BufferPoolTest, KeepsABoundedNumberOfFreeBuffers) {
  OnFreshThread([] {
    BufferPool& pool = BufferPool::ForThisThread();
    for (size_t i = 0; i < BufferPool::kMaxFreeBuffers + 5; ++i) {
      std::unique_ptr<std::byte[]> buffer = pool.Take(kCapacity);
      std::unique_ptr<std::byte[]> extra = std::make_unique<std::byte[]>(kCapacity);
      pool.Give(extra, kCapacity);
      EXPECT_EQ(extra, nullptr);
      pool.Give(buffer, kCapacity);
    }
    EXPECT_EQ(pool.free_buffers(), BufferPool::kMaxFreeBuffers);
  });
}

TEST(BufferPoolTest, ABufferOfAnotherSizeReplacesThePooledOnes) {
  OnFreshThread([] {
    BufferPool& pool = BufferPool::ForThisThread();
    std::unique_ptr<std::byte[]> small = pool.Take(kCapacity);
    pool.Give(small, kCapacity);
    ASSERT_EQ(pool.free_buffers(), 1u);
    std::unique_ptr<std::byte[]> large = pool.Take(2 * kCapacity);
    pool.Give(large, 2 * kCapacity);
    EXPECT_EQ(pool.free_buffers(), 1u);
    std::unique_ptr<std::byte[]> again = pool.Take(2 * kCapacity);
    EXPECT_EQ(pool.free_buffers(), 0u);
  });
}

}  // namespace
}  // namespace pgvalve::proxy
