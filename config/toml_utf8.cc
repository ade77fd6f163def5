#include "config/toml_utf8.h"

#include <cstddef>
#include <optional>

#include "absl/strings/str_cat.h"
#include "config/string_views.h"

namespace pgvalve::config {
namespace {

// The line of the first byte that does not start or continue a UTF-8
// sequence, if any.
std::optional<size_t> LineOfInvalidUtf8(std::string_view text) {
  size_t line = 1;
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead == '\n') ++line;
    const size_t length = lead < 0x80           ? 1
                          : (lead >> 5) == 0x6  ? 2
                          : (lead >> 4) == 0xe  ? 3
                          : (lead >> 3) == 0x1e ? 4
                                                : 0;
    if (length == 0 || length > text.size() - i) return line;
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return line;
    }
    i += length;
  }
  return std::nullopt;
}

}  // namespace

absl::Status CheckTomlUtf8(std::string_view text, std::string_view source) {
  const std::optional<size_t> line = LineOfInvalidUtf8(text);
  if (!line) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      AbslView(source), ":", *line, ": syntax error: invalid UTF-8; TOML files must be UTF-8"));
}

}  // namespace pgvalve::config
