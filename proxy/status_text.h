#pragma once
// Bridges between absl::Status, whose Debian build uses absl::string_view,
// and the std::string_view the rest of pgvalve speaks.

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace pgvalve::proxy {

inline std::string_view StatusText(const absl::Status& status) {
  absl::string_view message = status.message();
  return {message.data(), message.size()};
}

inline absl::Status UnavailableError(std::string_view message) {
  return absl::UnavailableError(absl::string_view(message.data(), message.size()));
}

}  // namespace pgvalve::proxy
