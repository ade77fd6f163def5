#pragma once
// JSON text for the HTTP endpoint's bodies.

#include <string>
#include <string_view>

namespace pgvalve::admin {

// `text` as a JSON string, quotes included: quote, backslash and control
// characters escaped; bytes that are not valid UTF-8 become U+FFFD, so the
// body stays valid JSON whatever a server's error message holds.
std::string JsonQuoted(std::string_view text);

}  // namespace pgvalve::admin
