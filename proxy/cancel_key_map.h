#pragma once
// The keys pgvalve hands to clients instead of the server's BackendKeyData,
// and what each stands for. Clients never see a server's key: a key they
// present is looked up here (hash map, constant-time secret comparison) and
// only then translated into the real one.

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "proxy/upstream_connector.h"

namespace pgvalve::proxy {

// Where a session's backend is and how to cancel what it runs.
struct BackendKey {
  std::string upstream_name;
  UpstreamEndpoint endpoint;
  int32_t pid = 0;
  std::vector<std::byte> secret;
};

struct CancelTarget {
  uint64_t session_id = 0;
  BackendKey backend;
};

struct VirtualKey {
  int32_t pid = 0;
  std::vector<std::byte> secret;
};

// OpenSSL sets up a random generator per thread on first use, some four
// million instructions (about a millisecond); a worker calls this when it
// starts, so that its first session's startup does not pay for it.
void PrepareRandomForThisThread();

class CancelKeyMap {
 public:
  // Mints a key whose secret is as long as the server's (4 bytes in protocol
  // 3.0, up to 256 in 3.2) and maps it to `target`.
  VirtualKey Register(CancelTarget target);
  void Unregister(int32_t virtual_pid);

  // The target of a presented key; nullopt for an unknown pid or a wrong
  // secret, which callers must not tell apart in what they answer.
  std::optional<CancelTarget> Find(int32_t virtual_pid, std::span<const std::byte> secret) const;

  size_t size() const;

 private:
  struct Entry {
    std::vector<std::byte> secret;
    CancelTarget target;
  };

  int32_t NextFreePidLocked();

  mutable std::mutex mutex_;
  absl::flat_hash_map<int32_t, Entry> entries_;
  // Virtual pids start above any Linux pid (pid_max is at most 2^22), so a
  // virtual pid can never be mistaken for a real backend's.
  static constexpr int32_t kFirstVirtualPid = 1 << 30;
  int32_t next_pid_ = kFirstVirtualPid;
};

}  // namespace pgvalve::proxy
