#pragma once
// Running a TLS handshake over a ByteStream's socket, bounded by a
// deadline. On success the stream speaks TLS from then on; on failure it is
// left as it was, to be closed.

#include <openssl/ssl.h>

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "proxy/asio.h"
#include "proxy/byte_stream.h"

namespace pgvalve::proxy {

// pgvalve as the server: a client's connection.
Awaitable<absl::Status> AcceptTls(ByteStream& stream, SSL_CTX* context,
                                  std::chrono::steady_clock::time_point deadline);

// pgvalve as the client: an upstream connection. `server_name`, when not
// empty, is sent by SNI.
Awaitable<absl::Status> ConnectTls(ByteStream& stream, SSL_CTX* context, std::string server_name,
                                   std::chrono::steady_clock::time_point deadline);

}  // namespace pgvalve::proxy
