#pragma once
// Starting a control connection without blocking the event loop: the
// upstream's addresses resolved off the loop, and the libpq connection
// started from keyword/value pairs. ControlConnection drives the handshake.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/config.h"
#include "proxy/asio.h"
#include "upstream/pq_result.h"

namespace pgvalve::upstream {

// Numeric addresses, in the order libpq should try them.
using ControlAddresses = std::vector<std::string>;

// An upstream `host` that names a unix-socket directory, as libpq reads it.
bool IsSocketDirectory(const std::string& host);

// The error for a control connection that could not be made, naming the
// upstream, where it is and the control user.
absl::Status ControlConnectFailure(const config::UpstreamConfig& upstream, std::string_view reason);

// The addresses to hand libpq as hostaddr, so that it never resolves a name
// itself: PQconnectPoll would call getaddrinfo, which blocks, on the event
// loop. Asio's resolver runs it on a thread of its own. getaddrinfo cannot
// be interrupted, so the lookup runs as a coroutine apart and the caller
// stops waiting for it whenever its connect timeout says so.
proxy::Awaitable<absl::StatusOr<ControlAddresses>> ResolveControlAddresses(const std::string& host,
                                                                           uint16_t port);

// PQconnectStartParams with the upstream's control settings, one host entry
// per address. Each value reaches libpq as it is; nothing is spliced into a
// connection string.
pq::Conn StartControlConnection(const config::UpstreamConfig& upstream,
                                const ControlAddresses& addresses);

}  // namespace pgvalve::upstream
