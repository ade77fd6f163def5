#pragma once
// Delivering a CancelRequest to a backend, the way a client would: on a
// fresh connection to the backend's upstream, with the server's real key.

#include <chrono>
#include <cstddef>
#include <span>

#include "absl/status/status.h"
#include "proxy/asio.h"
#include "proxy/cancel_key_map.h"
#include "proxy/cancel_routes.h"

namespace pgvalve::proxy {

// Returns once the server has read the request and closed the connection,
// or with an error naming what failed.
Awaitable<absl::Status> ForwardCancelRequest(const BackendKey& backend,
                                             std::chrono::milliseconds timeout);

// Sends a client's CancelRequest, as the client sent it, on to the fleet
// instance that minted its key, and returns once that instance has read it
// and closed the connection (having acted on it or not: it says nothing).
Awaitable<absl::Status> ForwardCancelToInstance(const CancelPeer& peer, int32_t virtual_pid,
                                                std::span<const std::byte> secret,
                                                std::chrono::milliseconds timeout);

}  // namespace pgvalve::proxy
