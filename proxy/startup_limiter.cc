#include "proxy/startup_limiter.h"

#include <utility>

namespace pgvalve::proxy {

StartupTicket::StartupTicket(StartupTicket&& other) noexcept
    : limiter_(std::exchange(other.limiter_, nullptr)), address_(std::move(other.address_)) {}

StartupTicket& StartupTicket::operator=(StartupTicket&& other) noexcept {
  if (this != &other) {
    Release();
    limiter_ = std::exchange(other.limiter_, nullptr);
    address_ = std::move(other.address_);
  }
  return *this;
}

void StartupTicket::Release() {
  if (limiter_ == nullptr) return;
  std::exchange(limiter_, nullptr)->Leave(address_);
}

StartupLimiter::Entry StartupLimiter::TryEnter(std::string_view address, uint32_t max_total,
                                               uint32_t max_per_address) {
  const bool per_address = address != "unix" && address != "unknown";
  std::string key = per_address ? std::string(address) : std::string();
  std::lock_guard lock(mutex_);
  if (total_ >= max_total) return Entry{{}, Refusal::kTotal};
  if (per_address) {
    auto [entry, inserted] = per_address_.try_emplace(key, 0);
    if (entry->second >= max_per_address) return Entry{{}, Refusal::kPerAddress};
    ++entry->second;
  }
  ++total_;
  return Entry{StartupTicket(this, std::move(key)), Refusal::kNone};
}

void StartupLimiter::Leave(const std::string& address) {
  std::lock_guard lock(mutex_);
  --total_;
  if (address.empty()) return;
  auto entry = per_address_.find(address);
  if (entry != per_address_.end() && --entry->second == 0) per_address_.erase(entry);
}

uint32_t StartupLimiter::in_startup() const {
  std::lock_guard lock(mutex_);
  return total_;
}

}  // namespace pgvalve::proxy
