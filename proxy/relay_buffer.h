#pragma once
// A fixed-capacity buffer for one relay direction. Bytes arrive at the end,
// leave from the front; what is left after forwarding (a partial header, an
// inspected message still arriving) is moved to the front, which is cheap
// because it is at most one small message.
//
// The storage comes from the thread's BufferPool when bytes are about to
// arrive and goes back with Release() once everything was forwarded, so a
// waiting session holds no buffer at all.

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>

#include "proxy/buffer_pool.h"

namespace pgvalve::proxy {

class RelayBuffer {
 public:
  explicit RelayBuffer(size_t capacity) : capacity_(capacity) {}
  ~RelayBuffer() { Release(); }
  RelayBuffer(const RelayBuffer&) = delete;
  RelayBuffer& operator=(const RelayBuffer&) = delete;

  std::span<std::byte> filled() { return {storage_.get(), filled_}; }
  // Takes storage from the pool when the buffer has none.
  std::span<std::byte> free_space() {
    if (!storage_) storage_ = BufferPool::ForThisThread().Take(capacity_);
    return {storage_.get() + filled_, capacity_ - filled_};
  }
  size_t capacity() const { return capacity_; }
  bool full() const { return filled_ == capacity_; }
  bool empty() const { return filled_ == 0; }
  bool holds_storage() const { return storage_ != nullptr; }
  void Commit(size_t count) { filled_ += count; }

  // Drops the first `count` bytes.
  void Consume(size_t count) {
    if (count == 0) return;
    if (count == filled_) {
      filled_ = 0;
      return;
    }
    std::memmove(storage_.get(), storage_.get() + count, filled_ - count);
    filled_ -= count;
  }

  // Returns the storage to the pool; only an empty buffer lets go of it.
  void Release() {
    if (storage_ && filled_ == 0) BufferPool::ForThisThread().Give(storage_, capacity_);
  }

 private:
  std::unique_ptr<std::byte[]> storage_;
  size_t capacity_;
  size_t filled_ = 0;
};

}  // namespace pgvalve::proxy
