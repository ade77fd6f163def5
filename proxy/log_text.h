#pragma once
// Text that came from outside (a client's user, database or
// application_name, an operator's command, a server's message) on its way
// into a log line. Anyone can put a newline or an ANSI escape in a startup
// packet before authenticating; printed raw, it would forge log lines (a
// fake "admin audit:" line) or repaint an operator's terminal.

#include <string>
#include <string_view>

namespace pgvalve::proxy {

// Escapes `text` so that it prints as one line of valid UTF-8: `"` and `\`
// get a backslash, control characters and bytes that are not part of a
// valid UTF-8 sequence become \xNN. Valid multi-byte characters are kept.
std::string EscapeForLog(std::string_view text);

// EscapeForLog in double quotes: how every outside value appears in a log
// line, so that an empty value or one with spaces still reads as one field.
std::string QuoteForLog(std::string_view text);

}  // namespace pgvalve::proxy
