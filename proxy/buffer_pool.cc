#include "proxy/buffer_pool.h"

namespace pgvalve::proxy {

BufferPool& BufferPool::ForThisThread() {
  thread_local BufferPool pool;
  return pool;
}

std::unique_ptr<std::byte[]> BufferPool::Take(size_t size) {
  if (size == pooled_size_ && !free_.empty()) {
    std::unique_ptr<std::byte[]> buffer = std::move(free_.back());
    free_.pop_back();
    return buffer;
  }
  return std::make_unique_for_overwrite<std::byte[]>(size);
}

void BufferPool::Give(std::unique_ptr<std::byte[]>& buffer, size_t size) {
  if (size != pooled_size_) {
    free_.clear();
    pooled_size_ = size;
  }
  if (free_.size() < kMaxFreeBuffers) {
    free_.push_back(std::move(buffer));
  } else {
    buffer.reset();
  }
}

}  // namespace pgvalve::proxy
