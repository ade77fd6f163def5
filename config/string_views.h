#pragma once
// Debian's Abseil is built with ABSL_OPTION_USE_STD_STRING_VIEW 0, so
// absl::string_view is its own class and neither converts to the other:
// absl::StrCat rejects a std::string_view and Status::message() is no
// std::string_view. pgvalve's interfaces use std::string_view; these two
// functions are the crossing points, used where a value meets Abseil.

#include <string_view>

#include "absl/strings/string_view.h"

namespace pgvalve::config {

inline absl::string_view AbslView(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

inline std::string_view StdView(absl::string_view text) {
  return std::string_view(text.data(), text.size());
}

}  // namespace pgvalve::config
