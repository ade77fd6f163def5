#include "config/client_network.h"

#include <arpa/inet.h>

#include <charconv>
#include <optional>

#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"

namespace pgvalve::config {
namespace {

struct Address {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4
};

std::optional<Address> ParseAddress(std::string_view text) {
  const std::string copy(text);
  Address address;
  if (inet_pton(AF_INET, copy.c_str(), address.bytes.data()) == 1) return address;
  if (inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) != 1) return std::nullopt;
  address.v6 = true;
  // ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket.
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(std::begin(kMappedPrefix), std::end(kMappedPrefix), address.bytes.begin())) {
    std::copy(address.bytes.begin() + 12, address.bytes.end(), address.bytes.begin());
    std::fill(address.bytes.begin() + 4, address.bytes.end(), 0);
    address.v6 = false;
  }
  return address;
}

bool PrefixEqual(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int bits) {
  int byte = 0;
  for (; bits >= 8; bits -= 8, ++byte) {
    if (a[byte] != b[byte]) return false;
  }
  if (bits == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits));
  return (a[byte] & mask) == (b[byte] & mask);
}

}  // namespace

absl::StatusOr<ClientNetwork> ClientNetwork::Parse(std::string_view text) {
  auto invalid = [&](std::string_view why) {
    return protocol::ErrorWithSqlState(
        protocol::sqlstate::kInvalidTextRepresentation,
        fmt::format("invalid client network \"{}\": {}; use e.g. '10.0.0.0/8', '::1' or 'unix'",
                    text, why));
  };
  ClientNetwork network;
  if (text == "unix") {
    network.unix_ = true;
    network.text_ = "unix";
    return network;
  }
  const size_t slash = text.find('/');
  std::optional<Address> address = ParseAddress(text.substr(0, slash));
  if (!address) return invalid("not an IP address");
  const int max_bits = address->v6 ? 128 : 32;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() || bits < 0 ||
        bits > max_bits) {
      return invalid(fmt::format("the prefix length must be 0 to {}", max_bits));
    }
  }
  // Bits set beyond the prefix are an error in PostgreSQL's cidr too: the
  // operator probably meant a different network.
  std::array<uint8_t, 16> masked{};
  for (int bit = 0; bit < bits; ++bit) masked[bit / 8] |= address->bytes[bit / 8] & (0x80 >> (bit % 8));
  network.v6_ = address->v6;
  network.network_ = masked;
  network.prefix_bits_ = bits;
  char printed[INET6_ADDRSTRLEN] = {};
  inet_ntop(address->v6 ? AF_INET6 : AF_INET, masked.data(), printed, sizeof printed);
  network.text_ = fmt::format("{}/{}", printed, bits);
  if (masked != address->bytes) {
    return protocol::ErrorWithSqlState(
        protocol::sqlstate::kInvalidTextRepresentation,
        fmt::format("invalid client network \"{}\": it has bits set to the right of the mask; did "
                    "you mean '{}'?",
                    text, network.text_));
  }
  return network;
}

bool ClientNetwork::Contains(std::string_view address) const {
  if (address == "unix") return unix_;
  if (unix_) return false;
  std::optional<Address> parsed = ParseAddress(address);
  if (!parsed || parsed->v6 != v6_) return false;
  return PrefixEqual(parsed->bytes, network_, prefix_bits_);
}

}  // namespace pgvalve::config
