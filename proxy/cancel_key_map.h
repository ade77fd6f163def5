#pragma once
// The keys pgvalve hands to clients instead of the server's BackendKeyData,
// and what each stands for. Clients never see a server's key: a key they
// present is looked up here (hash map, constant-time secret comparison) and
// only then translated into the real one. The way back, from a real backend
// pid to the virtual pid its client knows, serves the pids the server names
// in NotificationResponse.

#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/hash/hash.h"
#include "proxy/upstream_connector.h"

namespace pgvalve::proxy {

// The secret half of a cancel key: 4 bytes in protocol 3.0 (every
// PostgreSQL before 18), up to 256 in 3.2. Held inline up to 8 bytes, so
// the usual key costs no allocation of its own; every session has two.
using CancelSecret = absl::InlinedVector<std::byte, 8>;

// Where a session's backend is and how to cancel what it runs.
struct BackendKey {
  std::string upstream_name;
  // Shared with the session's BackendLink and every copy of the key (the
  // record's, the cancel-key map's): a unix-socket endpoint alone is 128
  // bytes. Set for every key a backend sent.
  std::shared_ptr<const UpstreamEndpoint> endpoint;
  int32_t pid = 0;
  CancelSecret secret;
};

// One copy per backend, shared by the session's record and the cancel-key
// map's entry.
using SharedBackendKey = std::shared_ptr<const BackendKey>;

struct CancelTarget {
  uint64_t session_id = 0;
  SharedBackendKey backend;
};

struct VirtualKey {
  int32_t pid = 0;
  CancelSecret secret;
};

// Within a fleet, a virtual pid also names the instance that minted it, so
// that a CancelRequest arriving at another instance can be sent on to the
// right one: above 2^30 (never a Linux pid, whose maximum is 2^22), 8 bits
// of instance slot, then 22 bits of sequence (4 million live sessions per
// instance). Alone, an instance uses all 2^30 pids above 2^30.
inline constexpr int kInstanceSlots = 256;
// The slot a virtual pid names, if it is a virtual pid at all.
std::optional<int> InstanceSlotOf(int32_t virtual_pid);

// OpenSSL sets up a random generator per thread on first use, some four
// million instructions (about a millisecond); a worker calls this when it
// starts, so that its first session's startup does not pay for it.
void PrepareRandomForThisThread();

class CancelKeyMap {
 public:
  // Virtual pids start above any Linux pid (pid_max is at most 2^22), so a
  // virtual pid can never be mistaken for a real backend's.
  static constexpr int32_t kFirstVirtualPid = 1 << 30;
  // Below the instance slot (InstanceSlotOf).
  static constexpr int kSequenceBits = 22;

  // Mints a key whose secret is as long as the server's (4 bytes in protocol
  // 3.0, up to 256 in 3.2) and maps it to `target`, whose backend is set.
  VirtualKey Register(CancelTarget target);
  void Unregister(int32_t virtual_pid);
  // Points a registered key at another backend of the same session, or at
  // none (null) while the session has no backend: such a key cancels
  // nothing, as a wrong one. The virtual key itself does not change.
  void Retarget(int32_t virtual_pid, SharedBackendKey backend);

  // The target of a presented key; nullopt for an unknown pid, a wrong
  // secret or a session without a backend, which callers must not tell
  // apart in what they answer.
  std::optional<CancelTarget> Find(int32_t virtual_pid, std::span<const std::byte> secret) const;

  // The virtual pid of the registered session whose backend on
  // `upstream_name` has the real pid `backend_pid`; nullopt for a backend
  // pgvalve has no session on (a direct connection, an ended session).
  std::optional<int32_t> VirtualPidOf(std::string_view upstream_name, int32_t backend_pid) const;

  size_t size() const;

  // The instance slot (0 to kInstanceSlots - 1) of the pids minted from now
  // on; nullopt (the default): no fleet. Keys already handed out stay.
  void SetInstanceSlot(std::optional<int> slot);

 private:
  struct Entry {
    CancelSecret secret;
    uint64_t session_id = 0;
    // Null while the session has no backend (Retarget).
    SharedBackendKey backend;
  };

  // (upstream name, real backend pid). The name is a view of the entry's
  // key that the mapping leads to (see SetWayBackLocked), so a slot holds
  // no string of its own.
  using BackendRef = std::pair<std::string_view, int32_t>;

  int32_t NextFreePidLocked();
  // Maps `backend` back to `virtual_pid`, replacing any older mapping.
  void SetWayBackLocked(const BackendKey& backend, int32_t virtual_pid);
  // Drops the real backend's way back to `virtual_pid`, unless a newer
  // session has taken it over.
  void ForgetBackendLocked(const BackendKey& backend, int32_t virtual_pid);

  mutable std::mutex mutex_;
  absl::flat_hash_map<int32_t, Entry> entries_;
  // Real backend -> virtual pid, kept with entries_ by Register/Unregister.
  absl::flat_hash_map<BackendRef, int32_t> virtual_pids_;
  // Pids are minted from [first_pid_, last_pid_], the whole range without
  // a fleet, the instance slot's within one.
  int32_t first_pid_ = kFirstVirtualPid;
  int32_t last_pid_ = std::numeric_limits<int32_t>::max();
  int32_t next_pid_ = kFirstVirtualPid;
};

}  // namespace pgvalve::proxy
