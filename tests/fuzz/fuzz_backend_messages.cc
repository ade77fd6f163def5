// Fuzzes the parsers of the backend messages the relay acts on. Input: one
// selector byte, then a message body. A selector that is one of the tags
// R K S Z E N v A picks that parser; 'p' the client's SASLInitialResponse,
// which the authentication relay reads; any other byte picks one by its
// value.
//
// Besides not crashing, every rejection must be 08P01, and every accepted
// body must be exactly what the writers make of the parsed value (for 'E'
// and 'N', which skip unknown fields, every field found must sit in the
// body after its code byte and before a NUL). Rewriting the pid of an 'A'
// changes exactly its first four bytes, and only for a body that parses.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <string_view>
#include <vector>

#include "protocol/backend_messages.h"
#include "protocol/backend_writer.h"
#include "protocol/message_reader.h"
#include "protocol/message_writer.h"
#include "protocol/protocol_error.h"
#include "protocol/sasl_messages.h"
#include "protocol/startup_packet.h"
#include "tests/fuzz/fuzz_check.h"

namespace pgvalve::fuzz {
namespace {

using protocol::BackendTag;
using protocol::MessageWriter;

// The writer's single message must be `tag`, a correct length and `body`.
bool Rebuilds(const MessageWriter& writer, protocol::BackendTag tag, std::span<const std::byte> body) {
  std::span<const std::byte> message = writer.bytes();
  if (message.size() != 1 + 4 + body.size()) return false;
  if (message[0] != static_cast<std::byte>(tag)) return false;
  if (protocol::LoadBigEndian32(message.data() + 1) != 4 + body.size()) return false;
  return std::equal(body.begin(), body.end(), message.begin() + 5);
}

// `field` was parsed from `body` as the value of field `code`.
bool IsFieldOf(std::string_view field, char code, std::span<const std::byte> body) {
  if (field.empty()) return true;  // absent or empty: nothing to locate
  const auto* start = reinterpret_cast<const std::byte*>(field.data());
  if (start <= body.data() || start + field.size() >= body.data() + body.size()) return false;
  return start[-1] == static_cast<std::byte>(code) && start[field.size()] == std::byte{0};
}

template <typename T>
bool Rejected(const absl::StatusOr<T>& result) {
  if (result.ok()) return false;
  PGVALVE_FUZZ_CHECK(protocol::SqlStateOf(result.status()) == "08P01");
  return true;
}

void CheckAuthentication(std::span<const std::byte> body) {
  absl::StatusOr<protocol::AuthenticationRequest> auth = protocol::ParseAuthenticationRequest(body);
  if (Rejected(auth)) return;
  MessageWriter writer;
  protocol::AppendAuthentication(writer, auth->code, auth->data);
  PGVALVE_FUZZ_CHECK(Rebuilds(writer, BackendTag::kAuthentication, body));
  if (auth->code != protocol::AuthenticationCode::kSasl) return;
  // The mechanism list pgvalve rewrites (SCRAM-SHA-256-PLUS taken out).
  absl::StatusOr<std::vector<std::string_view>> mechanisms = protocol::ParseSaslMechanisms(auth->data);
  if (Rejected(mechanisms)) return;
  MessageWriter list;
  protocol::AppendAuthenticationSasl(list, *mechanisms);
  PGVALVE_FUZZ_CHECK(Rebuilds(list, BackendTag::kAuthentication, body));
}

// A client's SASLInitialResponse ('p' after AuthenticationSASL).
void CheckSaslInitialResponse(std::span<const std::byte> body) {
  absl::StatusOr<protocol::SaslInitialResponse> response = protocol::ParseSaslInitialResponse(body);
  if (Rejected(response)) return;
  const size_t expected = response->mechanism.size() + 1 + 4 + response->data.size();
  PGVALVE_FUZZ_CHECK(body.size() == expected);
  const std::optional<char> flag = protocol::ScramChannelBindingFlag(response->data);
  PGVALVE_FUZZ_CHECK(!flag || (!response->data.empty() && static_cast<char>(response->data[0]) == *flag));
}

void CheckBackendKeyData(std::span<const std::byte> body) {
  absl::StatusOr<protocol::BackendKeyData> key = protocol::ParseBackendKeyData(body);
  if (Rejected(key)) return;
  PGVALVE_FUZZ_CHECK(key->secret.size() >= protocol::kMinCancelSecretLength &&
                     key->secret.size() <= protocol::kMaxCancelSecretLength);
  MessageWriter writer;
  protocol::AppendBackendKeyData(writer, key->pid, key->secret);
  PGVALVE_FUZZ_CHECK(Rebuilds(writer, BackendTag::kBackendKeyData, body));
}

void CheckParameterStatus(std::span<const std::byte> body) {
  absl::StatusOr<protocol::ParameterStatus> parameter = protocol::ParseParameterStatus(body);
  if (Rejected(parameter)) return;
  MessageWriter writer;
  protocol::AppendParameterStatus(writer, parameter->name, parameter->value);
  PGVALVE_FUZZ_CHECK(Rebuilds(writer, BackendTag::kParameterStatus, body));
}

void CheckReadyForQuery(std::span<const std::byte> body) {
  absl::StatusOr<protocol::TransactionStatus> status = protocol::ParseReadyForQuery(body);
  if (Rejected(status)) return;
  MessageWriter writer;
  protocol::AppendReadyForQuery(writer, *status);
  PGVALVE_FUZZ_CHECK(Rebuilds(writer, BackendTag::kReadyForQuery, body));
}

void CheckErrorOrNotice(std::span<const std::byte> body) {
  absl::StatusOr<protocol::ErrorFields> fields = protocol::ParseErrorOrNotice(body);
  if (Rejected(fields)) return;
  PGVALVE_FUZZ_CHECK(!body.empty() && body.back() == std::byte{0});
  PGVALVE_FUZZ_CHECK(IsFieldOf(fields->severity, 'S', body));
  PGVALVE_FUZZ_CHECK(IsFieldOf(fields->severity_internal, 'V', body));
  PGVALVE_FUZZ_CHECK(IsFieldOf(fields->sqlstate, 'C', body));
  PGVALVE_FUZZ_CHECK(IsFieldOf(fields->message, 'M', body));
  PGVALVE_FUZZ_CHECK(IsFieldOf(fields->detail, 'D', body));
  PGVALVE_FUZZ_CHECK(IsFieldOf(fields->hint, 'H', body));
}

void CheckNegotiateProtocolVersion(std::span<const std::byte> body) {
  absl::StatusOr<protocol::NegotiateProtocolVersion> negotiate = protocol::ParseNegotiateProtocolVersion(body);
  if (Rejected(negotiate)) return;
  MessageWriter writer;
  writer.Begin(protocol::BackendTag::kNegotiateProtocolVersion)
      .Int32(negotiate->newest_version)
      .Int32(static_cast<int32_t>(negotiate->unrecognized_options.size()));
  for (std::string_view option : negotiate->unrecognized_options) writer.CString(option);
  writer.End();
  PGVALVE_FUZZ_CHECK(Rebuilds(writer, BackendTag::kNegotiateProtocolVersion, body));
}

void CheckNotificationResponse(std::span<const std::byte> body) {
  absl::StatusOr<protocol::NotificationResponse> notification =
      protocol::ParseNotificationResponse(body);
  // A pid that differs from the parsed one in every bit.
  const int32_t new_pid = notification.ok() ? ~notification->pid : 1;
  std::vector<std::byte> copy(body.begin(), body.end());
  const absl::Status rewritten = protocol::RewriteNotificationPid(copy, new_pid);
  if (Rejected(notification)) {
    PGVALVE_FUZZ_CHECK(!rewritten.ok() && std::equal(copy.begin(), copy.end(), body.begin()));
    return;
  }
  MessageWriter writer;
  writer.Begin(BackendTag::kNotificationResponse)
      .Int32(notification->pid)
      .CString(notification->channel)
      .CString(notification->payload)
      .End();
  PGVALVE_FUZZ_CHECK(Rebuilds(writer, BackendTag::kNotificationResponse, body));
  PGVALVE_FUZZ_CHECK(rewritten.ok());
  PGVALVE_FUZZ_CHECK(protocol::LoadBigEndian32(copy.data()) == static_cast<uint32_t>(new_pid));
  PGVALVE_FUZZ_CHECK(std::equal(copy.begin() + 4, copy.end(), body.begin() + 4));
}

}  // namespace
}  // namespace pgvalve::fuzz

extern "C" int PGVALVE_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace pgvalve::fuzz;
  using pgvalve::protocol::BackendTag;
  if (size == 0) return 0;
  if (data[0] == 'p') {
    CheckSaslInitialResponse(std::span(reinterpret_cast<const std::byte*>(data) + 1, size - 1));
    return 0;
  }
  constexpr BackendTag kTags[] = {BackendTag::kAuthentication, BackendTag::kBackendKeyData,
                                  BackendTag::kParameterStatus, BackendTag::kReadyForQuery,
                                  BackendTag::kErrorResponse,   BackendTag::kNoticeResponse,
                                  BackendTag::kNegotiateProtocolVersion,
                                  BackendTag::kNotificationResponse};
  auto tag = static_cast<BackendTag>(data[0]);
  if (std::find(std::begin(kTags), std::end(kTags), tag) == std::end(kTags)) {
    tag = kTags[data[0] % std::size(kTags)];
  }
  std::span<const std::byte> body(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  switch (tag) {
    case BackendTag::kAuthentication: CheckAuthentication(body); break;
    case BackendTag::kBackendKeyData: CheckBackendKeyData(body); break;
    case BackendTag::kParameterStatus: CheckParameterStatus(body); break;
    case BackendTag::kReadyForQuery: CheckReadyForQuery(body); break;
    case BackendTag::kErrorResponse:
    case BackendTag::kNoticeResponse: CheckErrorOrNotice(body); break;
    case BackendTag::kNegotiateProtocolVersion: CheckNegotiateProtocolVersion(body); break;
    case BackendTag::kNotificationResponse: CheckNotificationResponse(body); break;
    default: break;
  }
  return 0;
}
