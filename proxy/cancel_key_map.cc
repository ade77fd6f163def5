#include "proxy/cancel_key_map.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace pgvalve::proxy {

namespace {

// RAND_bytes checks for a fork (a getpid system call) and looks up its
// generator's parameters on every call, and a session start asked it for
// four bytes. Drawn a kilobyte at a time per thread instead; the bytes are
// as random, and each is wiped from the pool once handed out.
class ThreadRandomPool {
 public:
  // False if the CSPRNG failed.
  bool Fill(std::span<std::byte> out) {
    while (!out.empty()) {
      if (left_ == 0) {
        if (RAND_bytes(reinterpret_cast<unsigned char*>(pool_.data()), static_cast<int>(pool_.size())) != 1) {
          return false;
        }
        left_ = pool_.size();
      }
      std::byte* next = pool_.data() + (pool_.size() - left_);
      const size_t taken = std::min(left_, out.size());
      std::memcpy(out.data(), next, taken);
      OPENSSL_cleanse(next, taken);
      left_ -= taken;
      out = out.subspan(taken);
    }
    return true;
  }

  static ThreadRandomPool& ForThisThread() {
    thread_local ThreadRandomPool pool;
    return pool;
  }

 private:
  std::array<std::byte, 1024> pool_;
  size_t left_ = 0;
};

}  // namespace

void PrepareRandomForThisThread() {
  std::byte ignored;
  // A failure here shows again, and is handled, where a key is minted.
  (void)ThreadRandomPool::ForThisThread().Fill(std::span(&ignored, 1));
}

std::optional<int> InstanceSlotOf(int32_t virtual_pid) {
  if (virtual_pid < CancelKeyMap::kFirstVirtualPid) return std::nullopt;
  return (virtual_pid - CancelKeyMap::kFirstVirtualPid) >> CancelKeyMap::kSequenceBits;
}

void CancelKeyMap::SetInstanceSlot(std::optional<int> slot) {
  if (slot && (*slot < 0 || *slot >= kInstanceSlots)) throw std::invalid_argument("instance slot out of range");
  std::lock_guard lock(mutex_);
  first_pid_ = slot ? kFirstVirtualPid + (*slot << kSequenceBits) : kFirstVirtualPid;
  last_pid_ = slot ? first_pid_ + ((1 << kSequenceBits) - 1) : std::numeric_limits<int32_t>::max();
  next_pid_ = first_pid_;
}

int32_t CancelKeyMap::NextFreePidLocked() {
  while (true) {
    int32_t candidate = next_pid_;
    next_pid_ = next_pid_ == last_pid_ ? first_pid_ : next_pid_ + 1;
    if (!entries_.contains(candidate)) return candidate;
  }
}

VirtualKey CancelKeyMap::Register(CancelTarget target) {
  if (!target.backend) throw std::invalid_argument("a cancel key is registered for a backend");
  VirtualKey key;
  key.secret.resize(target.backend->secret.size());
  // A predictable secret would let anyone cancel anyone's queries.
  if (!ThreadRandomPool::ForThisThread().Fill(key.secret)) {
    throw std::runtime_error("the CSPRNG failed to produce a cancel secret");
  }
  std::lock_guard lock(mutex_);
  key.pid = NextFreePidLocked();
  const BackendKey& backend = *target.backend;
  entries_.emplace(key.pid, Entry{key.secret, target.session_id, std::move(target.backend)});
  SetWayBackLocked(backend, key.pid);
  return key;
}

void CancelKeyMap::SetWayBackLocked(const BackendKey& backend, int32_t virtual_pid) {
  // A pid the server reuses may still name a session that has not finished
  // ending; the newer backend is the one that can send anything now. The
  // old mapping goes with its key, which views the older session's name.
  virtual_pids_.erase(BackendRef{backend.upstream_name, backend.pid});
  virtual_pids_.emplace(BackendRef{backend.upstream_name, backend.pid}, virtual_pid);
}

void CancelKeyMap::ForgetBackendLocked(const BackendKey& backend, int32_t virtual_pid) {
  // Only its own mapping: a newer session may have taken over the pid.
  auto reverse = virtual_pids_.find(BackendRef{backend.upstream_name, backend.pid});
  if (reverse != virtual_pids_.end() && reverse->second == virtual_pid) virtual_pids_.erase(reverse);
}

void CancelKeyMap::Unregister(int32_t virtual_pid) {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(virtual_pid);
  if (found == entries_.end()) return;
  if (found->second.backend) ForgetBackendLocked(*found->second.backend, virtual_pid);
  entries_.erase(found);
}

void CancelKeyMap::Retarget(int32_t virtual_pid, SharedBackendKey backend) {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(virtual_pid);
  if (found == entries_.end()) return;
  Entry& entry = found->second;
  if (entry.backend) ForgetBackendLocked(*entry.backend, virtual_pid);
  entry.backend = std::move(backend);
  if (entry.backend) SetWayBackLocked(*entry.backend, virtual_pid);
}

std::optional<CancelTarget> CancelKeyMap::Find(int32_t virtual_pid,
                                               std::span<const std::byte> secret) const {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(virtual_pid);
  if (found == entries_.end()) return std::nullopt;
  const CancelSecret& expected = found->second.secret;
  // Lengths are public (they follow the protocol version); the content is
  // compared in constant time so timing reveals nothing about the secret.
  if (expected.size() != secret.size() ||
      CRYPTO_memcmp(expected.data(), secret.data(), secret.size()) != 0) {
    return std::nullopt;
  }
  if (!found->second.backend) return std::nullopt;
  return CancelTarget{found->second.session_id, found->second.backend};
}

std::optional<int32_t> CancelKeyMap::VirtualPidOf(std::string_view upstream_name,
                                                  int32_t backend_pid) const {
  std::lock_guard lock(mutex_);
  auto found = virtual_pids_.find(BackendRef{upstream_name, backend_pid});
  if (found == virtual_pids_.end()) return std::nullopt;
  return found->second;
}

size_t CancelKeyMap::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace pgvalve::proxy
