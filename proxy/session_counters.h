#pragma once
// The per-session counters, declared once: SHOW STATS reads them, and the
// HTTP endpoint's /metrics walks the same list under the names given here.
//
// Each session's counters have a single writer (its worker thread), so an
// increment is a relaxed load and store, which costs a plain memory write
// on the relay path; readers on other threads may see a value a moment old.

#include <atomic>
#include <cstdint>

namespace pgvalve::proxy {

// X(name, description, metric, scale): `metric` is the Prometheus counter
// that exposes it, in the unit Prometheus expects (seconds, bytes), which
// is the counter's value times `scale`.
#define PGVALVE_SESSION_COUNTERS(X)                                                          \
  X(transactions, "transactions that ended (back to idle outside a transaction)",           \
    "pgvalve_transactions_total", 1.0)                                                       \
  X(queries, "client requests answered with ReadyForQuery", "pgvalve_queries_total", 1.0)    \
  X(bytes_from_client, "bytes received from clients", "pgvalve_client_received_bytes_total", \
    1.0)                                                                                     \
  X(bytes_to_client, "bytes sent to clients", "pgvalve_client_sent_bytes_total", 1.0)        \
  X(transaction_time_us, "time spent in transactions", "pgvalve_transaction_time_seconds_total", 1e-6)

struct CounterValues {
#define PGVALVE_COUNTER_FIELD(name, description, metric, scale) uint64_t name = 0;
  PGVALVE_SESSION_COUNTERS(PGVALVE_COUNTER_FIELD)
#undef PGVALVE_COUNTER_FIELD

  CounterValues& operator+=(const CounterValues& other) {
#define PGVALVE_COUNTER_ADD(name, description, metric, scale) name += other.name;
    PGVALVE_SESSION_COUNTERS(PGVALVE_COUNTER_ADD)
#undef PGVALVE_COUNTER_ADD
    return *this;
  }
};

class SessionCounters {
 public:
#define PGVALVE_COUNTER_METHODS(name, description, metric, scale)                                       \
  void add_##name(uint64_t count) {                                                      \
    name##_.store(name##_.load(std::memory_order_relaxed) + count, std::memory_order_relaxed); \
  }                                                                                      \
  uint64_t name() const { return name##_.load(std::memory_order_relaxed); }
  PGVALVE_SESSION_COUNTERS(PGVALVE_COUNTER_METHODS)
#undef PGVALVE_COUNTER_METHODS

  CounterValues Load() const {
    CounterValues values;
#define PGVALVE_COUNTER_LOAD(name, description, metric, scale) values.name = name();
    PGVALVE_SESSION_COUNTERS(PGVALVE_COUNTER_LOAD)
#undef PGVALVE_COUNTER_LOAD
    return values;
  }

 private:
#define PGVALVE_COUNTER_ATOMIC(name, description, metric, scale) std::atomic<uint64_t> name##_{0};
  PGVALVE_SESSION_COUNTERS(PGVALVE_COUNTER_ATOMIC)
#undef PGVALVE_COUNTER_ATOMIC
};

}  // namespace pgvalve::proxy
