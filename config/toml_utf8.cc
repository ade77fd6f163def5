#include "config/toml_utf8.h"

#include <algorithm>
#include <cstddef>
#include <optional>

#include "absl/strings/str_cat.h"
#include "config/string_views.h"
#include "protocol/utf8.h"

namespace pgvalve::config {

absl::Status CheckTomlUtf8(std::string_view text, std::string_view source) {
  const std::optional<size_t> offset = protocol::FirstInvalidUtf8(text);
  if (!offset) return absl::OkStatus();
  const size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + *offset, '\n'));
  return absl::InvalidArgumentError(absl::StrCat(
      AbslView(source), ":", line, ": syntax error: invalid UTF-8; TOML files must be UTF-8"));
}

}  // namespace pgvalve::config
