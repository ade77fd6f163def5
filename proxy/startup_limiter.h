#pragma once
// Bounds the connections that have been accepted but have not yet handed
// over a startup packet, in all and per client address. Such a connection
// costs a file descriptor and nothing else, so without a bound a crowd of
// silent TCP connections (a port scan, a misbehaving pool, an attack) holds
// every descriptor until startup_timeout and locks out real clients and the
// admin console alike. Thread-safe: tickets are taken on the accepting
// thread and given back on the workers.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"

namespace pgvalve::proxy {

class StartupLimiter;

// One connection's place among those in startup; gives it back when
// released or destroyed.
class StartupTicket {
 public:
  StartupTicket() = default;
  StartupTicket(StartupTicket&& other) noexcept;
  StartupTicket& operator=(StartupTicket&& other) noexcept;
  StartupTicket(const StartupTicket&) = delete;
  StartupTicket& operator=(const StartupTicket&) = delete;
  ~StartupTicket() { Release(); }

  // The startup is over (admitted, refused, or gone); idempotent.
  void Release();

 private:
  friend class StartupLimiter;
  StartupTicket(StartupLimiter* limiter, std::string address)
      : limiter_(limiter), address_(std::move(address)) {}

  StartupLimiter* limiter_ = nullptr;
  std::string address_;  // empty: not counted per address
};

class StartupLimiter {
 public:
  enum class Refusal { kNone, kTotal, kPerAddress };

  // A ticket, or why there is none. Addresses "unix" and "unknown" are
  // counted only in the total: every local client shares them.
  struct Entry {
    StartupTicket ticket;
    Refusal refusal = Refusal::kNone;
  };
  Entry TryEnter(std::string_view address, uint32_t max_total, uint32_t max_per_address);

  uint32_t in_startup() const;

 private:
  friend class StartupTicket;
  void Leave(const std::string& address);

  mutable std::mutex mutex_;
  uint32_t total_ = 0;
  absl::flat_hash_map<std::string, uint32_t> per_address_;
};

}  // namespace pgvalve::proxy
