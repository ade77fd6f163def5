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

// One change a watch saw.
struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // a delete carries the key and its mod_revision only
};

// One message of a watch's stream: its creation, events, or its end.
struct WatchMessage {
  ResponseHeader header;
  bool created = false;
  // etcd ended the watch: the revision asked for was compacted away
  // (compact_revision says from where history is kept), or another reason.
  bool canceled = false;
  int64_t compact_revision = 0;
  std::string cancel_reason;
  std::vector<WatchEvent> events;
};

// A watch's answer is one HTTP body that never ends: JSON messages, each
// followed by a line feed. Cuts it into those messages as it arrives, in
// pieces of any size; a message longer than `max_message_bytes` is an
// error rather than unbounded memory.
class WatchStreamSplitter {
 public:
  explicit WatchStreamSplitter(size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  // Takes the next piece of the body. Fails once a message outgrows the
  // bound; nothing is taken after that.
  absl::Status Append(std::string_view piece);
  // The next whole message, without its line feed; nullopt until one is.
  std::optional<std::string> Next();

 private:
  const size_t max_message_bytes_;
  std::string pending_;
  size_t start_ = 0;
  bool failed_ = false;
};

// Request bodies.
std::string PutRequest(std::string_view key, std::string_view value, int64_t lease);
std::string RangeRequest(std::string_view key, std::string_view range_end);
std::string DeleteRangeRequest(std::string_view key, std::string_view range_end);
std::string TxnRequest(const Txn& txn);
std::string LeaseGrantRequest(int64_t ttl_seconds);
std::string LeaseIdRequest(int64_t id);  // keepalive, revoke
std::string AuthenticateRequest(std::string_view user, std::string_view password);
// Every change to keys in [key, range_end) from `start_revision` on (0:
// from now).
std::string WatchCreateRequest(std::string_view key, std::string_view range_end, int64_t start_revision);

// Answers. An answer that is not what the call returns, or that carries
// etcd's error object ({"error": ..., "code": N}), is an error naming it.
absl::StatusOr<ResponseHeader> ParseHeaderOnly(std::string_view json);
absl::StatusOr<RangeResult> ParseRange(std::string_view json);
absl::StatusOr<TxnResult> ParseTxn(std::string_view json);
absl::StatusOr<LeaseGrant> ParseLeaseGrant(std::string_view json);
// The token /v3/auth/authenticate gives, for the Authorization header.
absl::StatusOr<std::string> ParseAuthenticate(std::string_view json);
// The keepalive's answer, {"result": {"ID": ..., "TTL": ...}}: the lease's
// remaining TTL; 0 when the lease has expired.
absl::StatusOr<int64_t> ParseKeepAlive(std::string_view json);
// One message of a watch's stream, {"result": {...}}.
absl::StatusOr<WatchMessage> ParseWatchMessage(std::string_view json);

}  // namespace pgvalve::fleet
