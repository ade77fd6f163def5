#pragma once
// A range of client addresses, written as PostgreSQL writes a cidr
// ('10.0.0.0/8', '::1/128', a bare address for one host), or 'unix' for
// clients on the unix socket. Used to pick sessions by where they came
// from, and by access rules to admit clients.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace pgvalve::config {

class ClientNetwork {
 public:
  // A malformed text is 22P02 (invalid_text_representation), as with
  // PostgreSQL's own cidr input.
  static absl::StatusOr<ClientNetwork> Parse(std::string_view text);

  // `address` as SessionIdentity keeps it: an IP address or "unix". An
  // IPv4-mapped IPv6 address counts as the IPv4 address it maps.
  bool Contains(std::string_view address) const;

  bool is_unix() const { return unix_; }
  // The canonical text, e.g. "10.0.0.0/8"; "unix".
  const std::string& text() const { return text_; }

 private:
  bool unix_ = false;
  bool v6_ = false;
  std::array<uint8_t, 16> network_{};
  int prefix_bits_ = 0;
  std::string text_;
};

}  // namespace pgvalve::config
