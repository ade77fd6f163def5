#pragma once
// Protocol violations travel as absl::Status values that carry the SQLSTATE
// the peer must be told, so the code that closes a connection does not have
// to guess which code fits.

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace pgvalve::protocol {

// An error whose SQLSTATE is `sqlstate` (a five-character code from sqlstate.h).
absl::Status ErrorWithSqlState(std::string_view sqlstate, std::string_view message);
// `status` (an error), keeping its code, with `sqlstate` for the client.
absl::Status WithSqlState(absl::Status status, std::string_view sqlstate);

// 08P01: the bytes do not follow the protocol.
absl::Status ProtocolViolation(std::string_view message);

// `status` with a DETAIL line for the client (an ErrorResponse 'D' field).
absl::Status WithDetail(absl::Status status, std::string_view detail);
// The DETAIL attached to `status`, or empty.
std::string DetailOf(const absl::Status& status);

// The SQLSTATE attached to `status`; XX000 (internal_error) for a status
// without one, whatever its code. 08P01 is only ever what ProtocolViolation
// attaches: a client told "protocol violation" about a bad config file or an
// unreachable upstream would look for the fault in its own bytes.
std::string SqlStateOf(const absl::Status& status);

}  // namespace pgvalve::protocol
