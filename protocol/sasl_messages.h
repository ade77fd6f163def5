#pragma once
// The parts of SASL authentication (RFC 5802 SCRAM, as PostgreSQL speaks
// it) that a relay has to read: the mechanisms a server offers and the one
// a client picks, with its channel-binding flag.

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "protocol/message_writer.h"

namespace pgvalve::protocol {

inline constexpr std::string_view kScramSha256 = "SCRAM-SHA-256";
inline constexpr std::string_view kScramSha256Plus = "SCRAM-SHA-256-PLUS";

// AuthenticationSASL's data (after the Int32 code): mechanism names, each
// NUL-terminated, then an empty one. Nothing may follow.
absl::StatusOr<std::vector<std::string_view>> ParseSaslMechanisms(std::span<const std::byte> data);

// A whole AuthenticationSASL message offering `mechanisms`.
void AppendAuthenticationSasl(MessageWriter& writer, const std::vector<std::string_view>& mechanisms);

// 'p' answering AuthenticationSASL (SASLInitialResponse).
struct SaslInitialResponse {
  std::string_view mechanism;
  std::span<const std::byte> data;  // the client-first message; empty when sent as -1
};
absl::StatusOr<SaslInitialResponse> ParseSaslInitialResponse(std::span<const std::byte> body);

// The gs2 channel-binding flag that opens a SCRAM client-first message
// (RFC 5802 7): 'n' (client does not support it), 'y' (it does, but thinks
// the server does not) or 'p' (it binds). nullopt when there is none.
std::optional<char> ScramChannelBindingFlag(std::span<const std::byte> client_first);

}  // namespace pgvalve::protocol
