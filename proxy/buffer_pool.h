#pragma once
// Relay buffers shared by the sessions of one worker thread. A session holds
// a buffer only while bytes sit in it (see RelayBuffer), so memory follows
// the traffic rather than the number of connections, and the few buffers in
// use stay hot in the cache. Each thread has its own pool and touches only
// that one: no locks, nothing shared across workers.

#include <cstddef>
#include <memory>
#include <vector>

namespace pgvalve::proxy {

class BufferPool {
 public:
  // Free buffers a thread keeps for reuse; more are given back to malloc.
  static constexpr size_t kMaxFreeBuffers = 64;

  static BufferPool& ForThisThread();

  // A buffer of `size` bytes, uninitialised.
  std::unique_ptr<std::byte[]> Take(size_t size);
  void Give(std::unique_ptr<std::byte[]>& buffer, size_t size);

  size_t free_buffers() const { return free_.size(); }

 private:
  // Every relay buffer has the configured size, so one size is pooled;
  // a buffer of another size (a reload changed it) is simply freed.
  size_t pooled_size_ = 0;
  std::vector<std::unique_ptr<std::byte[]>> free_;
};

}  // namespace pgvalve::proxy
