#pragma once
// Delivering a CancelRequest to a backend, the way a client would: on a
// fresh connection to the backend's upstream, with the server's real key.

#include <chrono>

#include "absl/status/status.h"
#include "proxy/asio.h"
#include "proxy/cancel_key_map.h"

namespace pgvalve::proxy {

// Returns once the server has read the request and closed the connection,
// or with an error naming what failed.
Awaitable<absl::Status> ForwardCancelRequest(const BackendKey& backend,
                                             std::chrono::milliseconds timeout);

}  // namespace pgvalve::proxy
