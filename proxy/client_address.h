#pragma once

#include <cstdint>
#include <string>

namespace pgvalve::proxy {

// Where a client connected from, as SHOW CLIENTS and the logs print it.
struct ClientAddress {
  std::string address;  // IP address, or "unix"
  uint16_t port = 0;    // 0 for unix-socket clients

  bool is_unix() const { return port == 0; }

  std::string ToString() const {
    if (port == 0) return address;
    return address.find(':') != std::string::npos
               ? "[" + address + "]:" + std::to_string(port)
               : address + ":" + std::to_string(port);
  }
};

}  // namespace pgvalve::proxy
