#pragma once
// What an instance says of itself under its lease in etcd, for SHOW FLEET,
// as JSON: no I/O here.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace pgvalve::fleet {

struct InstanceRecord {
  std::string id;
  std::string address;  // where its clients connect, "HOST:PORT"
  std::string version;
  uint64_t sessions = 0;
  // The fleet state revision it has applied.
  int64_t applied_revision = 0;
  // The instance slot its virtual pids carry (proxy/cancel_key_map.h);
  // -1 before it has one.
  int slot = -1;
  std::string started;  // UTC, as the admin console shows times
};

std::string EncodeInstance(const InstanceRecord& record);
absl::StatusOr<InstanceRecord> DecodeInstance(std::string_view json);

// The key of instance `id` under `key_prefix`.
std::string InstanceKey(std::string_view key_prefix, std::string_view id);
// The prefix every instance's key starts with.
std::string InstancesPrefix(std::string_view key_prefix);
// The key that reserves instance slot `slot`, and the prefix of them all.
std::string SlotKey(std::string_view key_prefix, int slot);
std::string SlotsPrefix(std::string_view key_prefix);

}  // namespace pgvalve::fleet
