#pragma once

#include <cstdint>

namespace pgvalve::test {

// Returns a TCP port on 127.0.0.1 that was free a moment ago: the kernel
// picks it for a socket bound to port 0, which is then closed. Another
// process could take it before the caller binds it; on a test machine that
// race is rare enough to accept. Throws std::system_error on failure.
uint16_t FreeTcpPort();

// Whether something accepts TCP connections on 127.0.0.1:port now.
bool CanConnectTcp(uint16_t port);

}  // namespace pgvalve::test
