#pragma once
// Where a text stops being UTF-8. PostgreSQL refuses such text with 22021;
// pgvalve must too wherever it keeps what it is given (the admin console's
// statements end up in the state file, which must load again).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pgvalve::protocol {

// The offset of the first byte that does not start or continue a UTF-8
// sequence (overlong forms and surrogates are not looked for), or nullopt.
std::optional<size_t> FirstInvalidUtf8(std::string_view text);

// PostgreSQL's message for it: invalid byte sequence for encoding "UTF8":
// 0xe9 0x20 (the offending byte and the next ones of its sequence).
std::string InvalidUtf8Message(std::string_view text, size_t offset);

}  // namespace pgvalve::protocol
