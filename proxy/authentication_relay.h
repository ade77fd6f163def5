#pragma once
// The authentication exchange of a new session, relayed message by message
// between the StartupMessage and the server's AuthenticationOk. pgvalve does
// not authenticate anyone itself; it reads this much only because SCRAM's
// channel binding cannot survive a TLS session that pgvalve terminates:
//
//  - SCRAM-SHA-256-PLUS binds the exchange to the certificate the client
//    saw, which is pgvalve's, while the server checks its own. Unless the
//    two are the same certificate, pgvalve removes PLUS from the server's
//    offer, so that a client preferring channel binding (libpq's default)
//    falls back to SCRAM-SHA-256, and a client requiring it gets its
//    driver's "server did not offer channel binding".
//  - A TLS client then tells the server it supports channel binding but
//    thinks the server does not ('y'). A server reached over TLS takes that
//    for a downgrade attack and refuses; pgvalve refuses first, saying why
//    and what to change. A plain server accepts it.
//  - A client that picks PLUS anyway is refused as PostgreSQL would.

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "proxy/asio.h"
#include "proxy/byte_stream.h"
#include "proxy/session_counters.h"

namespace pgvalve::proxy {

// OK once the server has answered the client's credentials (AuthenticationOk,
// an ErrorResponse, or anything the relay reads on its own): the relay
// takes over from there. kUnavailable when a side went away; other errors
// carry the SQLSTATE of the FATAL the client is to get; every message went
// whole, so the server may still be sent a Terminate. Bytes relayed count in
// `counters`, as the relay's do. With `plain_refusal_is_retried` (the plain
// attempt of server_tls_sslmode = allow), a 28000 from the server before
// any authentication request is not passed on: kFailedPrecondition says
// to try again over TLS.
Awaitable<absl::Status> RelayAuthentication(ByteStream& client, ByteStream& server, std::string upstream_name,
                                            std::chrono::steady_clock::time_point deadline,
                                            SessionCounters& counters, bool plain_refusal_is_retried = false);

}  // namespace pgvalve::proxy
