#pragma once
// A fixed-capacity buffer for one relay direction. Bytes arrive at the end,
// leave from the front; what is left after forwarding (a partial header, an
// inspected message still arriving) is moved to the front, which is cheap
// because it is at most one small message.

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>

namespace pgvalve::proxy {

class RelayBuffer {
 public:
  explicit RelayBuffer(size_t capacity)
      : storage_(std::make_unique_for_overwrite<std::byte[]>(capacity)), capacity_(capacity) {}

  std::span<std::byte> filled() { return {storage_.get(), filled_}; }
  std::span<std::byte> free_space() { return {storage_.get() + filled_, capacity_ - filled_}; }
  size_t capacity() const { return capacity_; }
  bool full() const { return filled_ == capacity_; }
  bool empty() const { return filled_ == 0; }

  void Commit(size_t count) { filled_ += count; }

  // Drops the first `count` bytes.
  void Consume(size_t count) {
    if (count == 0) return;
    std::memmove(storage_.get(), storage_.get() + count, filled_ - count);
    filled_ -= count;
  }

 private:
  std::unique_ptr<std::byte[]> storage_;
  size_t capacity_;
  size_t filled_ = 0;
};

}  // namespace pgvalve::proxy
