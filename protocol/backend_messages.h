#pragma once
// Typed views of the backend messages the relay acts on. Each parser takes
// the message body (after tag and length) and borrows from it.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace pgvalve::protocol {

enum class TransactionStatus : char {
  kIdle = 'I',           // not in a transaction block
  kInTransaction = 'T',  // in a transaction block
  kFailed = 'E',         // in a failed transaction block
};

// 'Z'
absl::StatusOr<TransactionStatus> ParseReadyForQuery(std::span<const std::byte> body);

// 'K'
struct BackendKeyData {
  int32_t pid = 0;
  std::span<const std::byte> secret;  // 4 bytes in 3.0, up to 256 in 3.2
};
absl::StatusOr<BackendKeyData> ParseBackendKeyData(std::span<const std::byte> body);
// Replaces the key in place; `secret` must be as long as the body's, so the
// message keeps its length.
absl::Status RewriteBackendKeyData(std::span<std::byte> body, int32_t pid, std::span<const std::byte> secret);

// 'S'
struct ParameterStatus {
  std::string_view name;
  std::string_view value;
};
absl::StatusOr<ParameterStatus> ParseParameterStatus(std::span<const std::byte> body);

// 'R'
enum class AuthenticationCode : int32_t {
  kOk = 0,
  kKerberosV5 = 2,
  kCleartextPassword = 3,
  kMd5Password = 5,
  kGss = 7,
  kGssContinue = 8,
  kSspi = 9,
  kSasl = 10,
  kSaslContinue = 11,
  kSaslFinal = 12,
};
struct AuthenticationRequest {
  AuthenticationCode code = AuthenticationCode::kOk;
  std::span<const std::byte> data;  // salt, SASL mechanisms or SASL data
};
absl::StatusOr<AuthenticationRequest> ParseAuthenticationRequest(std::span<const std::byte> body);

// 'v'
struct NegotiateProtocolVersion {
  // The newest version the server supports for the requested major version,
  // as a full version code (major << 16 | minor): PostgreSQL sends its
  // PG_PROTOCOL_LATEST, not the bare minor number the docs suggest.
  int32_t newest_version = 0;
  std::vector<std::string_view> unrecognized_options;
};
absl::StatusOr<NegotiateProtocolVersion> ParseNegotiateProtocolVersion(
    std::span<const std::byte> body);

// 'D': column values as sent (text or binary); nullopt is NULL.
absl::StatusOr<std::vector<std::optional<std::string_view>>> ParseDataRow(
    std::span<const std::byte> body);

// 'A': Int32 pid of the notifying backend, String channel, String payload.
struct NotificationResponse {
  int32_t pid = 0;
  std::string_view channel;
  std::string_view payload;
};
absl::StatusOr<NotificationResponse> ParseNotificationResponse(std::span<const std::byte> body);
// Replaces the notifying pid of a NotificationResponse body in place; the
// length does not change, so the message needs no re-framing. Checks the
// whole body first and leaves an invalid one untouched.
absl::Status RewriteNotificationPid(std::span<std::byte> body, int32_t pid);

// 'E' and 'N' share one layout: fields of a one-byte code and a string.
struct ErrorFields {
  std::string_view severity;           // 'S', possibly localized
  std::string_view severity_internal;  // 'V', never localized (9.6+)
  std::string_view sqlstate;           // 'C'
  std::string_view message;            // 'M'
  std::string_view detail;             // 'D'
  std::string_view hint;               // 'H'
};
absl::StatusOr<ErrorFields> ParseErrorOrNotice(std::span<const std::byte> body);

}  // namespace pgvalve::protocol
