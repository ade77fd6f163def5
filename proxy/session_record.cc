#include "proxy/session_record.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace pgvalve::proxy {
namespace {

// Constant-initialized (std::mutex's constructor is constexpr), so usable
// from any thread at any time.
std::array<std::mutex, 64> record_mutexes;

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             WallClock::now().time_since_epoch())
      .count();
}

}  // namespace

SessionRecord::SessionRecord(SessionIdentity identity, std::string application_name, std::string upstream)
    : identity_(std::move(identity)),
      state_since_us_(NowMicros()),
      application_name_(std::move(application_name)),
      upstream_(std::move(upstream)) {}

std::mutex& SessionRecord::mutex() const {
  // Fibonacci hashing spreads records allocated next to each other over
  // the stripes; the top six bits index 64 of them.
  const auto address = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(this));
  return record_mutexes[(address >> 4) * 0x9E3779B97F4A7C15ull >> 58];
}

void SessionRecord::SetBackend(int32_t virtual_pid, SharedBackendKey key) {
  virtual_pid_.store(virtual_pid, std::memory_order_relaxed);
  backend_pid_.store(key->pid, std::memory_order_relaxed);
  std::lock_guard lock(mutex());
  backend_ = std::move(key);
}

std::optional<BackendKey> SessionRecord::backend() const {
  std::lock_guard lock(mutex());
  if (!backend_) return std::nullopt;
  return *backend_;
}

SharedBackendKey SessionRecord::TakeBackend() {
  backend_pid_.store(0, std::memory_order_relaxed);
  std::lock_guard lock(mutex());
  return std::exchange(backend_, nullptr);
}

namespace {

bool InTransaction(SessionState state) {
  return state == SessionState::kActive || state == SessionState::kIdleInTransaction ||
         state == SessionState::kIdleInFailedTransaction;
}

}  // namespace

void SessionRecord::SetState(SessionState state) {
  const SessionState previous = state_.load(std::memory_order_relaxed);
  if (previous == state) return;
  const int64_t now = NowMicros();
  if (state == SessionState::kActive) query_start_us_.store(now, std::memory_order_relaxed);
  if (InTransaction(state) && !InTransaction(previous)) {
    transaction_start_us_.store(now, std::memory_order_relaxed);
  } else if (state == SessionState::kIdle && InTransaction(previous)) {
    // The wall clock may step back meanwhile; a transaction takes no less than nothing.
    const auto took_us =
        static_cast<uint64_t>(std::max<int64_t>(0, now - transaction_start_us_.load(std::memory_order_relaxed)));
    counters_.add_transactions(1);
    counters_.add_transaction_time_us(took_us);
    if (transaction_latency_ != nullptr) transaction_latency_->Add(took_us);
  }
  state_since_us_.store(now, std::memory_order_relaxed);
  state_.store(state, std::memory_order_release);
}

WallClock::time_point SessionRecord::transaction_start() const {
  return WallClock::time_point(
      std::chrono::microseconds(transaction_start_us_.load(std::memory_order_relaxed)));
}

WallClock::time_point SessionRecord::query_start() const {
  return WallClock::time_point(
      std::chrono::microseconds(query_start_us_.load(std::memory_order_relaxed)));
}

void SessionRecord::RestartQueryClock() {
  query_start_us_.store(NowMicros(), std::memory_order_relaxed);
}

StateStamp SessionRecord::state_stamp() const {
  // state_ is stored after state_since_us_ by the one writer; reading in
  // the opposite order can pair a new state with the previous time, which
  // only makes a conditional close skip once.
  const SessionState state = state_.load(std::memory_order_acquire);
  return StateStamp{state, WallClock::time_point(std::chrono::microseconds(
                               state_since_us_.load(std::memory_order_acquire)))};
}

void SessionRecord::SetApplicationName(std::string_view name) {
  std::lock_guard lock(mutex());
  application_name_.assign(name);
}

std::string SessionRecord::upstream() const {
  std::lock_guard lock(mutex());
  return upstream_;
}

void SessionRecord::SetUpstream(std::string_view upstream) {
  std::lock_guard lock(mutex());
  upstream_.assign(upstream);
}

void SessionRecord::MarkEnded(SessionEnd end) {
  std::lock_guard lock(mutex());
  if (!end_) end_ = end;
}

std::optional<SessionEnd> SessionRecord::end() const {
  std::lock_guard lock(mutex());
  return end_;
}

void SessionRecord::AttachControl(std::weak_ptr<SessionControl> control) {
  std::lock_guard lock(mutex());
  control_ = std::move(control);
}

std::shared_ptr<SessionControl> SessionRecord::control() const {
  std::lock_guard lock(mutex());
  return control_.lock();
}

SessionSnapshot SessionRecord::Snapshot() const {
  SessionSnapshot snapshot;
  snapshot.identity = identity_;
  snapshot.state = state();
  snapshot.state_since =
      WallClock::time_point(std::chrono::microseconds(state_since_us_.load(std::memory_order_relaxed)));
  snapshot.query_start = query_start();
  snapshot.transaction_start = transaction_start();
  snapshot.virtual_pid = virtual_pid();
  snapshot.backend_pid = backend_pid();
  snapshot.counters = counters_.Load();
  std::lock_guard lock(mutex());
  snapshot.application_name = application_name_;
  snapshot.upstream = upstream_;
  return snapshot;
}

}  // namespace pgvalve::proxy
