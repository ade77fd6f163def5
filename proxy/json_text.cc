#include "proxy/json_text.h"

#include <cstdint>
#include <optional>

#include "fmt/format.h"
#include "protocol/utf8.h"

namespace pgvalve::proxy {
namespace {

// Appends valid UTF-8 `text`, escaped; multi-byte characters as they are.
void AppendEscaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<uint8_t>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
}

}  // namespace

std::string JsonQuoted(std::string_view text) {
  std::string quoted = "\"";
  while (!text.empty()) {
    const std::optional<size_t> invalid = protocol::FirstInvalidUtf8(text);
    AppendEscaped(quoted, text.substr(0, invalid.value_or(text.size())));
    if (!invalid) break;
    quoted += "\\ufffd";
    text.remove_prefix(*invalid + 1);
  }
  quoted += '"';
  return quoted;
}

}  // namespace pgvalve::proxy
