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
  // The fleet state revision it has applied (0 until shared state exists).
  int64_t applied_revision = 0;
  std::string started;  // UTC, as the admin console shows times
};

std::string EncodeInstance(const InstanceRecord& record);
absl::StatusOr<InstanceRecord> DecodeInstance(std::string_view json);

// The key of instance `id` under `key_prefix`.
std::string InstanceKey(std::string_view key_prefix, std::string_view id);
// The prefix every instance's key starts with.
std::string InstancesPrefix(std::string_view key_prefix);

}  // namespace pgvalve::fleet
