#pragma once
// JSON text, for the HTTP endpoint and the JSON log format.

#include <string>
#include <string_view>

namespace pgvalve::proxy {

// `text` as a JSON string, quotes included: quote, backslash and control
// characters escaped; bytes that are not valid UTF-8 become U+FFFD, so the
// body stays valid JSON whatever a server's error message holds.
std::string JsonQuoted(std::string_view text);

}  // namespace pgvalve::proxy
