#include "fleet/etcd_codec.h"

#include <array>
#include <charconv>
#include <initializer_list>

#include <boost/json.hpp>


namespace pgvalve::fleet {
namespace {

namespace json = boost::json;

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Debian's abseil has a string_view of its own, which StrCat wants.
std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string text;
  for (std::string_view part : parts) text.append(part);
  return text;
}

json::string Base64Json(std::string_view bytes) { return json::string(Base64Encode(bytes)); }

// Protobuf's JSON mapping writes int64 as a string; a number is read too.
absl::StatusOr<int64_t> Int64Of(const json::object& object, std::string_view name) {
  const json::value* found = object.if_contains(name);
  if (found == nullptr) return 0;  // protobuf leaves out zero values
  if (found->is_int64()) return found->as_int64();
  if (found->is_uint64()) return static_cast<int64_t>(found->as_uint64());
  if (!found->is_string()) return absl::DataLossError(Cat({"etcd: ", name, " is not a number"}));
  const json::string& text = found->as_string();
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return absl::DataLossError(Cat({"etcd: ", name, " is not a number: ", std::string_view(text)}));
  }
  return value;
}

absl::StatusOr<std::string> BytesOf(const json::object& object, std::string_view name) {
  const json::value* found = object.if_contains(name);
  if (found == nullptr) return std::string();
  if (!found->is_string()) return absl::DataLossError(Cat({"etcd: ", name, " is not a string"}));
  std::optional<std::string> bytes = Base64Decode(found->as_string());
  if (!bytes) return absl::DataLossError(Cat({"etcd: ", name, " is not base64"}));
  return *std::move(bytes);
}

// The answer as an object, or etcd's error as a status: the gateway writes
// {"error": "...", "code": N, "message": "..."} for a failed call.
absl::StatusOr<json::object> ObjectOf(std::string_view text) {
  boost::system::error_code error;
  json::value value = json::parse(json::string_view(text.data(), text.size()), error);
  if (error || !value.is_object()) {
    return absl::DataLossError(Cat({"etcd answered something that is not a JSON object: ",
                                            text.substr(0, 200)}));
  }
  json::object& object = value.as_object();
  if (const json::value* message = object.if_contains("error"); message != nullptr) {
    const std::string_view what = message->is_string() ? std::string_view(message->as_string()) : "error";
    return absl::FailedPreconditionError(Cat({"etcd: ", what}));
  }
  return std::move(object);
}

absl::StatusOr<ResponseHeader> HeaderOf(const json::object& object) {
  ResponseHeader header;
  if (const json::value* found = object.if_contains("header"); found != nullptr && found->is_object()) {
    absl::StatusOr<int64_t> revision = Int64Of(found->as_object(), "revision");
    if (!revision.ok()) return revision.status();
    header.revision = *revision;
  }
  return header;
}

absl::StatusOr<KeyValue> KeyValueOf(const json::value& value) {
  if (!value.is_object()) return absl::DataLossError("etcd: a key-value is not an object");
  const json::object& object = value.as_object();
  KeyValue kv;
  for (auto [name, field] : {std::pair{"key", &kv.key}, std::pair{"value", &kv.value}}) {
    absl::StatusOr<std::string> bytes = BytesOf(object, name);
    if (!bytes.ok()) return bytes.status();
    *field = *std::move(bytes);
  }
  for (auto [name, field] : {std::pair{"create_revision", &kv.create_revision},
                             std::pair{"mod_revision", &kv.mod_revision}, std::pair{"version", &kv.version},
                             std::pair{"lease", &kv.lease}}) {
    absl::StatusOr<int64_t> number = Int64Of(object, name);
    if (!number.ok()) return number.status();
    *field = *number;
  }
  return kv;
}

std::string_view TargetName(Compare::Target target) {
  switch (target) {
    case Compare::Target::kModRevision: return "MOD";
    case Compare::Target::kCreateRevision: return "CREATE";
    case Compare::Target::kVersion: return "VERSION";
    case Compare::Target::kValue: return "VALUE";
  }
  return "MOD";
}

std::string_view ResultName(Compare::Result result) {
  switch (result) {
    case Compare::Result::kEqual: return "EQUAL";
    case Compare::Result::kNotEqual: return "NOT_EQUAL";
    case Compare::Result::kGreater: return "GREATER";
    case Compare::Result::kLess: return "LESS";
  }
  return "EQUAL";
}

json::object CompareJson(const Compare& compare) {
  json::object object{{"key", Base64Json(compare.key)},
                      {"target", TargetName(compare.target)},
                      {"result", ResultName(compare.result)}};
  switch (compare.target) {
    case Compare::Target::kModRevision: object["mod_revision"] = std::to_string(compare.number); break;
    case Compare::Target::kCreateRevision: object["create_revision"] = std::to_string(compare.number); break;
    case Compare::Target::kVersion: object["version"] = std::to_string(compare.number); break;
    case Compare::Target::kValue: object["value"] = Base64Json(compare.value); break;
  }
  return object;
}

json::object OperationJson(const TxnOperation& operation) {
  if (operation.kind == TxnOperation::Kind::kDelete) {
    json::object request{{"key", Base64Json(operation.key)}};
    if (!operation.range_end.empty()) request["range_end"] = Base64Json(operation.range_end);
    return json::object{{"request_delete_range", std::move(request)}};
  }
  json::object request{{"key", Base64Json(operation.key)}, {"value", Base64Json(operation.value)}};
  if (operation.lease != 0) request["lease"] = std::to_string(operation.lease);
  return json::object{{"request_put", std::move(request)}};
}

json::array OperationsJson(const std::vector<TxnOperation>& operations) {
  json::array array;
  for (const TxnOperation& operation : operations) array.push_back(OperationJson(operation));
  return array;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t group = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8 |
                           static_cast<uint8_t>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) text.push_back(kAlphabet[(group >> shift) & 63]);
  }
  if (const size_t rest = bytes.size() - i; rest > 0) {
    uint32_t group = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) group |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    text.push_back(kAlphabet[(group >> 18) & 63]);
    text.push_back(kAlphabet[(group >> 12) & 63]);
    text.push_back(rest == 2 ? kAlphabet[(group >> 6) & 63] : '=');
    text.push_back('=');
  }
  return text;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string bytes;
  bytes.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const size_t padding = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
    if (padding == 1 && text[i + 2] == '=') return std::nullopt;  // "x=y=" is not base64
    uint32_t group = 0;
    for (size_t j = 0; j < 4 - padding; ++j) {
      const int sextet = Sextet(text[i + j]);
      if (sextet < 0) return std::nullopt;
      group |= static_cast<uint32_t>(sextet) << (18 - 6 * j);
    }
    bytes.push_back(static_cast<char>(group >> 16));
    if (padding < 2) bytes.push_back(static_cast<char>(group >> 8));
    if (padding < 1) bytes.push_back(static_cast<char>(group));
  }
  return bytes;
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::string PutRequest(std::string_view key, std::string_view value, int64_t lease) {
  json::object request{{"key", Base64Json(key)}, {"value", Base64Json(value)}};
  if (lease != 0) request["lease"] = std::to_string(lease);
  return json::serialize(request);
}

std::string RangeRequest(std::string_view key, std::string_view range_end) {
  json::object request{{"key", Base64Json(key)}};
  if (!range_end.empty()) request["range_end"] = Base64Json(range_end);
  return json::serialize(request);
}

std::string DeleteRangeRequest(std::string_view key, std::string_view range_end) {
  return RangeRequest(key, range_end);
}

std::string TxnRequest(const Txn& txn) {
  json::array compare;
  for (const Compare& each : txn.compare) compare.push_back(CompareJson(each));
  return json::serialize(json::object{{"compare", std::move(compare)},
                                      {"success", OperationsJson(txn.success)},
                                      {"failure", OperationsJson(txn.failure)}});
}

std::string LeaseGrantRequest(int64_t ttl_seconds) {
  return json::serialize(json::object{{"TTL", std::to_string(ttl_seconds)}, {"ID", "0"}});
}

std::string AuthenticateRequest(std::string_view user, std::string_view password) {
  return json::serialize(json::object{{"name", json::string_view(user.data(), user.size())},
                                      {"password", json::string_view(password.data(), password.size())}});
}

std::string LeaseIdRequest(int64_t id) { return json::serialize(json::object{{"ID", std::to_string(id)}}); }

std::string WatchCreateRequest(std::string_view key, std::string_view range_end, int64_t start_revision) {
  json::object create{{"key", Base64Json(key)}};
  if (!range_end.empty()) create["range_end"] = Base64Json(range_end);
  if (start_revision != 0) create["start_revision"] = std::to_string(start_revision);
  return json::serialize(json::object{{"create_request", std::move(create)}});
}

absl::Status WatchStreamSplitter::Append(std::string_view piece) {
  // What was handed out already goes first, so pending_ holds at most one
  // message and a piece.
  if (start_ > 0) {
    pending_.erase(0, start_);
    start_ = 0;
  }
  if (failed_) return absl::ResourceExhaustedError("etcd: the watch stream already overflowed");
  // Every message the piece ends or holds, and the one it leaves open,
  // measured from where its line began.
  size_t line_start = pending_.rfind('\n');
  line_start = line_start == std::string::npos ? 0 : line_start + 1;
  pending_.append(piece);
  for (size_t at = line_start; at <= pending_.size(); ++at) {
    if (at < pending_.size() && pending_[at] != '\n') continue;
    if (at - line_start > max_message_bytes_) {
      failed_ = true;
      pending_.clear();
      return absl::ResourceExhaustedError(Cat({"etcd: a watch message longer than ",
                                               std::to_string(max_message_bytes_), " bytes"}));
    }
    line_start = at + 1;
  }
  return absl::OkStatus();
}

std::optional<std::string> WatchStreamSplitter::Next() {
  const size_t newline = pending_.find('\n', start_);
  if (newline == std::string::npos) return std::nullopt;
  std::string message = pending_.substr(start_, newline - start_);
  start_ = newline + 1;
  return message;
}

absl::StatusOr<ResponseHeader> ParseHeaderOnly(std::string_view text) {
  absl::StatusOr<json::object> object = ObjectOf(text);
  if (!object.ok()) return object.status();
  return HeaderOf(*object);
}

absl::StatusOr<RangeResult> ParseRange(std::string_view text) {
  absl::StatusOr<json::object> object = ObjectOf(text);
  if (!object.ok()) return object.status();
  RangeResult result;
  absl::StatusOr<ResponseHeader> header = HeaderOf(*object);
  if (!header.ok()) return header.status();
  result.header = *header;
  if (const json::value* kvs = object->if_contains("kvs"); kvs != nullptr) {
    if (!kvs->is_array()) return absl::DataLossError("etcd: kvs is not an array");
    for (const json::value& each : kvs->as_array()) {
      absl::StatusOr<KeyValue> kv = KeyValueOf(each);
      if (!kv.ok()) return kv.status();
      result.kvs.push_back(*std::move(kv));
    }
  }
  return result;
}

absl::StatusOr<TxnResult> ParseTxn(std::string_view text) {
  absl::StatusOr<json::object> object = ObjectOf(text);
  if (!object.ok()) return object.status();
  TxnResult result;
  absl::StatusOr<ResponseHeader> header = HeaderOf(*object);
  if (!header.ok()) return header.status();
  result.header = *header;
  if (const json::value* succeeded = object->if_contains("succeeded"); succeeded != nullptr) {
    if (!succeeded->is_bool()) return absl::DataLossError("etcd: succeeded is not a boolean");
    result.succeeded = succeeded->as_bool();
  }
  return result;
}

absl::StatusOr<std::string> ParseAuthenticate(std::string_view text) {
  absl::StatusOr<json::object> object = ObjectOf(text);
  if (!object.ok()) return object.status();
  const json::value* token = object->if_contains("token");
  if (token == nullptr || !token->is_string() || token->as_string().empty()) {
    return absl::DataLossError("etcd: an authentication answer without a token");
  }
  return std::string(std::string_view(token->as_string()));
}

absl::StatusOr<LeaseGrant> ParseLeaseGrant(std::string_view text) {
  absl::StatusOr<json::object> object = ObjectOf(text);
  if (!object.ok()) return object.status();
  LeaseGrant grant;
  absl::StatusOr<ResponseHeader> header = HeaderOf(*object);
  if (!header.ok()) return header.status();
  grant.header = *header;
  absl::StatusOr<int64_t> id = Int64Of(*object, "ID");
  absl::StatusOr<int64_t> ttl = Int64Of(*object, "TTL");
  if (!id.ok()) return id.status();
  if (!ttl.ok()) return ttl.status();
  if (*id == 0) return absl::DataLossError("etcd granted no lease");
  grant.id = *id;
  grant.ttl_seconds = *ttl;
  return grant;
}

absl::StatusOr<int64_t> ParseKeepAlive(std::string_view text) {
  absl::StatusOr<json::object> object = ObjectOf(text);
  if (!object.ok()) return object.status();
  const json::value* result = object->if_contains("result");
  if (result == nullptr || !result->is_object()) return absl::DataLossError("etcd: a keepalive without result");
  return Int64Of(result->as_object(), "TTL");
}

absl::StatusOr<WatchMessage> ParseWatchMessage(std::string_view text) {
  absl::StatusOr<json::object> object = ObjectOf(text);
  if (!object.ok()) return object.status();
  const json::value* found = object->if_contains("result");
  if (found == nullptr || !found->is_object()) return absl::DataLossError("etcd: a watch message without result");
  const json::object& result = found->as_object();
  WatchMessage message;
  absl::StatusOr<ResponseHeader> header = HeaderOf(result);
  if (!header.ok()) return header.status();
  message.header = *header;
  for (auto [name, field] : {std::pair{"created", &message.created}, std::pair{"canceled", &message.canceled}}) {
    if (const json::value* flag = result.if_contains(name); flag != nullptr) {
      if (!flag->is_bool()) return absl::DataLossError(Cat({"etcd: ", name, " is not a boolean"}));
      *field = flag->as_bool();
    }
  }
  absl::StatusOr<int64_t> compact = Int64Of(result, "compact_revision");
  if (!compact.ok()) return compact.status();
  message.compact_revision = *compact;
  if (const json::value* reason = result.if_contains("cancel_reason"); reason != nullptr && reason->is_string()) {
    message.cancel_reason = std::string(std::string_view(reason->as_string()));
  }
  if (const json::value* events = result.if_contains("events"); events != nullptr) {
    if (!events->is_array()) return absl::DataLossError("etcd: events is not an array");
    for (const json::value& each : events->as_array()) {
      if (!each.is_object()) return absl::DataLossError("etcd: an event is not an object");
      const json::object& event = each.as_object();
      WatchEvent parsed;
      // PUT is protobuf's zero value, left out.
      if (const json::value* type = event.if_contains("type"); type != nullptr) {
        if (!type->is_string()) return absl::DataLossError("etcd: an event's type is not a string");
        const std::string_view name = type->as_string();
        if (name == "DELETE") {
          parsed.type = WatchEvent::Type::kDelete;
        } else if (name != "PUT") {
          return absl::DataLossError(Cat({"etcd: an event of unknown type ", name}));
        }
      }
      const json::value* kv = event.if_contains("kv");
      if (kv == nullptr) return absl::DataLossError("etcd: an event without kv");
      absl::StatusOr<KeyValue> parsed_kv = KeyValueOf(*kv);
      if (!parsed_kv.ok()) return parsed_kv.status();
      parsed.kv = *std::move(parsed_kv);
      message.events.push_back(std::move(parsed));
    }
  }
  return message;
}

}  // namespace pgvalve::fleet
