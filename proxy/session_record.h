#pragma once
// What the rest of pgvalve (the admin console, logs) may know about one
// client session, shared between the session's worker thread, which writes
// it, and readers on any thread. Counters have a single writer, so they are
// relaxed atomics that cost a plain store on the relay path.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "proxy/cancel_key_map.h"
#include "proxy/session_counters.h"
#include "proxy/session_state.h"
#include "proxy/transaction_latencies.h"

namespace pgvalve::proxy {

using WallClock = std::chrono::system_clock;

// When a requested close takes effect.
enum class CloseWhen {
  kNow,
  // At the next ReadyForQuery outside a transaction block (now, if the
  // session is there): no transaction is cut short.
  kTransactionBoundary,
  // Once nothing the client sent is unanswered (now, if so), even inside a
  // transaction block, which the server then rolls back.
  kRequestBoundary,
};

// A session's state and the moment it entered it: together they name one
// stretch of idleness or activity, so an action decided on a snapshot can
// check that the session is still where the snapshot saw it.
struct StateStamp {
  SessionState state = SessionState::kStarting;
  WallClock::time_point since;
  bool operator==(const StateStamp&) const = default;
};

// Operations an operator can ask of a live session. Implementations are
// thread-safe: they hand the request to the session's own executor.
class SessionControl {
 public:
  virtual ~SessionControl() = default;
  // Ends the session: the client is sent `message` as FATAL `sqlstate` when
  // its stream is between messages, the backend gets a Terminate. A later
  // request with an earlier `when` replaces a pending one.
  virtual void Close(CloseWhen when, std::string sqlstate, std::string message) = 0;
  // Closes now, as Close(kNow, ...), and then cancels the statement the
  // backend is running, which would otherwise run to its end before the
  // backend reads the Terminate (a fast shutdown). The cancel is sent once
  // the relay has stopped, so its error never reaches the client, who is
  // told `sqlstate` instead.
  virtual void CloseAndCancelRunning(std::string sqlstate, std::string message) = 0;
  // Drops a close that is still waiting for its boundary (a cancelled DRAIN).
  virtual void WithdrawClose() = 0;
  // Closes the session now, as Close(kNow, ...) does, but only if it is
  // still in the state it entered at `stamp` when the request reaches its
  // executor. For limits that act on idleness the client may end at any
  // moment: a session that has just sent its COMMIT is left alone.
  virtual void CloseIfStill(StateStamp stamp, std::string sqlstate, std::string message) = 0;

  // Runs `sql` (one simple query) on the session's own backend between two
  // of its client's requests, to see what only the session itself can see
  // (its temporary tables, its LISTEN channels). The client never sees the
  // exchange; a request it sends meanwhile waits. Refused unless the
  // session is idle outside a transaction. `done` gets the first row as
  // text and may run on any thread.
  using ProbeResult = absl::StatusOr<std::vector<std::optional<std::string>>>;
  virtual void Probe(std::string sql, std::function<void(ProbeResult)> done) = 0;
};

// How a session ended, for operators' reports (DRAIN).
enum class SessionEnd {
  kClosedByPgvalve,    // an operator's or shutdown's close request
  kServerClosed,       // the backend closed (terminated, crashed, shut down)
  kClientClosed,       // the client left
  kProtocolViolation,  // either side broke the protocol
  kStartupFailed,      // it never got a working backend
};

struct SessionIdentity {
  uint64_t id = 0;
  std::string client_address;  // IP address, or "unix"
  uint16_t client_port = 0;    // 0 for unix-socket clients
  std::string database;
  std::string user;
  WallClock::time_point connected_at;
  // "TLSv1.3 TLS_AES_256_GCM_SHA384" for a client over TLS, else empty.
  std::string tls;
};

// A consistent copy for display.
struct SessionSnapshot {
  SessionIdentity identity;
  std::string application_name;
  std::string upstream;
  SessionState state = SessionState::kStarting;
  WallClock::time_point state_since;
  // Meaningful while active: when the request being answered was sent (the
  // oldest unanswered one when the client pipelines).
  WallClock::time_point query_start;
  // Meaningful while not idle: when the transaction (or single request) began.
  WallClock::time_point transaction_start;
  int32_t virtual_pid = 0;  // 0 until the backend sent its key
  int32_t backend_pid = 0;
  CounterValues counters;
};

class SessionRecord {
 public:
  // `upstream`: where the session is routed when it arrives; see
  // SetUpstream.
  SessionRecord(SessionIdentity identity, std::string application_name, std::string upstream);

  const SessionIdentity& identity() const { return identity_; }
  uint64_t id() const { return identity_.id; }

  void SetBackend(int32_t virtual_pid, SharedBackendKey key);
  std::optional<BackendKey> backend() const;
  // The session let go of its backend (pooling's seam): the key goes with
  // it, the virtual pid stays the client's. Null if it had none.
  SharedBackendKey TakeBackend();
  int32_t virtual_pid() const { return virtual_pid_.load(std::memory_order_relaxed); }
  int32_t backend_pid() const { return backend_pid_.load(std::memory_order_relaxed); }

  // Also counts transactions and their time from the state transitions,
  // and adds each transaction to the latency histogram, once there is one.
  void SetState(SessionState state);
  // The worker thread's histogram for the session's database, chosen once
  // its backend accepted it (a name alone must not make a histogram). Only
  // the session's own thread calls this and SetState.
  void SetTransactionLatency(LatencyHistogram& histogram) { transaction_latency_ = &histogram; }
  bool has_transaction_latency() const { return transaction_latency_ != nullptr; }
  SessionState state() const { return state_.load(std::memory_order_relaxed); }
  StateStamp state_stamp() const;
  // The server answered one request and the next one it already holds
  // starts now (a pipelining client): restarts the query clock.
  void RestartQueryClock();
  WallClock::time_point query_start() const;
  // When the current transaction (or single request) began; only
  // meaningful while the session is not idle.
  WallClock::time_point transaction_start() const;

  void SetApplicationName(std::string_view name);

  // The upstream the session is on, or will connect to. A session held
  // before connecting (PAUSE) learns its route only when it is released:
  // an operator may have switched the database meanwhile (CUTOVER).
  std::string upstream() const;
  void SetUpstream(std::string_view upstream);

  SessionCounters& counters() { return counters_; }
  const SessionCounters& counters() const { return counters_; }

  void MarkEnded(SessionEnd end);
  // nullopt while the session runs.
  std::optional<SessionEnd> end() const;

  void AttachControl(std::weak_ptr<SessionControl> control);
  // nullptr once the session has ended.
  std::shared_ptr<SessionControl> control() const;

  SessionSnapshot Snapshot() const;

 private:
  const SessionIdentity identity_;

  std::atomic<SessionState> state_{SessionState::kStarting};
  std::atomic<int64_t> state_since_us_;
  std::atomic<int32_t> virtual_pid_{0};
  std::atomic<int32_t> backend_pid_{0};
  std::atomic<int64_t> transaction_start_us_{0};
  std::atomic<int64_t> query_start_us_{0};
  SessionCounters counters_;
  LatencyHistogram* transaction_latency_ = nullptr;

  // Guards the rarely written fields below. One of a fixed set shared by
  // all records, picked by the record's address (lock striping): a mutex
  // of its own would be 40 bytes in every idle session. Nothing holds it
  // while taking another.
  std::mutex& mutex() const;
  std::string application_name_;
  std::string upstream_;
  // Shared with the cancel-key map's entry.
  SharedBackendKey backend_;
  std::weak_ptr<SessionControl> control_;
  std::optional<SessionEnd> end_;
};

}  // namespace pgvalve::proxy
