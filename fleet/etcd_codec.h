#pragma once
// etcd's v3 API as its HTTP/JSON gateway speaks it (/v3/kv/put, /v3/kv/range,
// /v3/kv/txn, /v3/lease/...): the request bodies pgvalve sends and the
// answers it reads, as plain data. No I/O here; etcd_client.h carries them.
//
// In that JSON, keys and values are base64 (protobuf bytes), and 64-bit
// integers are strings (protobuf's JSON mapping): both are handled here so
// that callers see text and numbers.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace pgvalve::fleet {

std::string Base64Encode(std::string_view bytes);
// nullopt for text that is not base64.
std::optional<std::string> Base64Decode(std::string_view text);

// The range_end that makes a range cover every key starting with `prefix`
// (etcd's "prefix end": the prefix with its last byte below 0xff
// incremented, the rest dropped); "\0" for an empty prefix, which etcd
// reads as "every key".
std::string PrefixEnd(std::string_view prefix);

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

// Every answer's header: the store's revision when it answered.
struct ResponseHeader {
  int64_t revision = 0;
};

struct RangeResult {
  ResponseHeader header;
  std::vector<KeyValue> kvs;
};

// A comparison of a transaction: the key's mod_revision, create_revision or
// version compared with `number`, or its value with `value`.
struct Compare {
  enum class Target { kModRevision, kCreateRevision, kVersion, kValue };
  enum class Result { kEqual, kNotEqual, kGreater, kLess };
  std::string key;
  Target target = Target::kModRevision;
  Result result = Result::kEqual;
  int64_t number = 0;
  std::string value;
};

// One operation of a transaction's branch: a put or a delete of one key (or
// of a range, with `range_end`).
struct TxnOperation {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;       // puts only
  int64_t lease = 0;       // puts only; 0: none
  std::string range_end;   // deletes only; empty: the key alone
};

struct Txn {
  std::vector<Compare> compare;
  std::vector<TxnOperation> success;
  std::vector<TxnOperation> failure;
};

struct TxnResult {
  ResponseHeader header;
  bool succeeded = false;
};

struct LeaseGrant {
  ResponseHeader header;
  int64_t id = 0;
  int64_t ttl_seconds = 0;
};

// Request bodies.
std::string PutRequest(std::string_view key, std::string_view value, int64_t lease);
std::string RangeRequest(std::string_view key, std::string_view range_end);
std::string DeleteRangeRequest(std::string_view key, std::string_view range_end);
std::string TxnRequest(const Txn& txn);
std::string LeaseGrantRequest(int64_t ttl_seconds);
std::string LeaseIdRequest(int64_t id);  // keepalive, revoke

// Answers. An answer that is not what the call returns, or that carries
// etcd's error object ({"error": ..., "code": N}), is an error naming it.
absl::StatusOr<ResponseHeader> ParseHeaderOnly(std::string_view json);
absl::StatusOr<RangeResult> ParseRange(std::string_view json);
absl::StatusOr<TxnResult> ParseTxn(std::string_view json);
absl::StatusOr<LeaseGrant> ParseLeaseGrant(std::string_view json);
// The keepalive's answer, {"result": {"ID": ..., "TTL": ...}}: the lease's
// remaining TTL; 0 when the lease has expired.
absl::StatusOr<int64_t> ParseKeepAlive(std::string_view json);

}  // namespace pgvalve::fleet
