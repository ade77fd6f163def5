#include "proxy/client_negotiation.h"

#include <spdlog/spdlog.h>

#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/deadline.h"
#include "proxy/error_reply.h"
#include "proxy/log_text.h"
#include "proxy/status_text.h"
#include "proxy/tls_handshake.h"
#include "tls/tls_connection.h"
#include "tls/tls_context.h"

namespace pgvalve::proxy {
namespace {

namespace sqlstate = protocol::sqlstate;
using std::chrono::steady_clock;

// SSLRequest and GSSENCRequest may each come once before the StartupMessage.
constexpr int kMaxEncryptionRequests = 2;
constexpr std::byte kEncryptionAccepted{'S'};
constexpr std::byte kEncryptionRefused{'N'};
// The first byte of a TLS record carrying a handshake message (RFC 8446
// 5.1): what a direct connection opens with. No startup packet can: its
// length would be over 369 MB.
constexpr std::byte kTlsHandshakeRecord{0x16};

bool RequiresTls(config::ClientTlsMode mode) {
  return mode == config::ClientTlsMode::kRequire || mode == config::ClientTlsMode::kVerifyCa ||
         mode == config::ClientTlsMode::kVerifyFull;
}

// True when the connection opens with a TLS record; nullopt when it ended
// or said nothing before the deadline.
Awaitable<std::optional<bool>> OpensWithTls(ByteStream& stream, steady_clock::time_point deadline) {
  while (true) {
    std::optional<std::tuple<error_code>> waited =
        co_await WithTimeout(stream.WaitReadable(), deadline - steady_clock::now());
    if (!waited || std::get<0>(*waited)) co_return std::nullopt;
    std::byte first;
    auto [error, peeked] = stream.TryPeekSome(std::span(&first, 1));
    if (error == error_code(EAGAIN, boost::system::system_category())) continue;
    if (error) co_return std::nullopt;
    co_return first == kTlsHandshakeRecord;
  }
}

Awaitable<bool> StartTls(ByteStream& stream, SSL_CTX* context, steady_clock::time_point deadline,
                         const std::string& client, ConnectionSecurity& security) {
  absl::Status handshake = co_await AcceptTls(stream, context, deadline);
  if (!handshake.ok()) {
    // Nothing can be said to a client whose handshake failed: the alert
    // OpenSSL sent is the answer.
    spdlog::info("client {}: {}", client, EscapeForLog(StatusText(handshake)));
    co_return false;
  }
  security.tls = true;
  security.client_certificate = stream.tls()->PeerCertificateVerified();
  spdlog::debug("client {}: TLS established ({})", client, stream.tls()->Description());
  co_return true;
}

}  // namespace

Awaitable<std::optional<ReceivedStartupPacket>> NegotiateStartup(ByteStream& stream, ClientTlsPolicy policy,
                                                                 steady_clock::time_point deadline,
                                                                 std::string client, ConnectionSecurity& security,
                                                                 ProxyEvents* events) {
  // pgvalve's own FATAL, counted for /metrics when asked to.
  const auto fatal = [&stream, events](std::string_view sqlstate, std::string_view message,
                                       std::string_view hint = {}) {
    if (events != nullptr) events->ErrorSent(sqlstate);
    return SendFatal(stream, sqlstate, message, {}, hint);
  };
  if (policy.context != nullptr) {
    std::optional<bool> direct = co_await OpensWithTls(stream, deadline);
    if (!direct) {
      spdlog::debug("client {}: no startup packet in time", client);
      co_return std::nullopt;
    }
    if (*direct) {
      if (!co_await StartTls(stream, policy.context, deadline, client, security)) co_return std::nullopt;
      // Without the SSLRequest's exchange, ALPN is what shows that the
      // client meant to speak PostgreSQL (the defence against cross-protocol
      // attacks PostgreSQL 17 requires it for).
      if (stream.tls()->AlpnProtocol() != tls::kAlpnProtocol) {
        spdlog::info("client {}: direct TLS connection refused: no ALPN protocol \"postgresql\"", client);
        co_await fatal(sqlstate::kProtocolViolation,
                       "received direct TLS connection request without ALPN protocol \"postgresql\"");
        co_return std::nullopt;
      }
    }
  }

  for (int encryption_requests = 0;; ++encryption_requests) {
    auto received = co_await WithTimeout(ReadStartupPacket(stream), deadline - steady_clock::now());
    if (!received) {
      // As PostgreSQL does for a silent client: close without a word.
      spdlog::debug("client {}: no startup packet in time", client);
      co_return std::nullopt;
    }
    if (!received->ok()) {
      const absl::Status& status = received->status();
      if (status.code() != absl::StatusCode::kUnavailable) {
        spdlog::warn("client {}: invalid startup packet: {}", client, EscapeForLog(StatusText(status)));
        co_await fatal(protocol::SqlStateOf(status), StatusText(status));
      }
      co_return std::nullopt;
    }
    ReceivedStartupPacket& packet = **received;
    const bool ssl_request = std::holds_alternative<protocol::SslRequest>(packet.parsed);
    if (ssl_request || std::holds_alternative<protocol::GssEncRequest>(packet.parsed)) {
      if (security.tls) {
        co_await fatal(sqlstate::kProtocolViolation,
                       "encryption request on a connection that is already encrypted");
        co_return std::nullopt;
      }
      if (encryption_requests >= kMaxEncryptionRequests) {
        co_await fatal(sqlstate::kProtocolViolation, "too many encryption requests before the startup message");
        co_return std::nullopt;
      }
      const bool accept = ssl_request && policy.context != nullptr;
      // Named before the co_await: GCC 12 mishandles temporaries of a ?:
      // inside one.
      const std::span<const std::byte> answer(accept ? &kEncryptionAccepted : &kEncryptionRefused, 1);
      auto [write_error, written] = co_await stream.WriteAll(answer);
      if (write_error) co_return std::nullopt;
      // The handshake reads what follows from the socket itself: nothing
      // the client sent before it can be taken for encrypted data.
      if (accept && !co_await StartTls(stream, policy.context, deadline, client, security)) co_return std::nullopt;
      continue;
    }
    if (std::holds_alternative<protocol::StartupMessage>(packet.parsed) && !security.tls &&
        RequiresTls(policy.mode)) {
      const auto& message = std::get<protocol::StartupMessage>(packet.parsed);
      spdlog::info("client {}: refused, TLS is required (user={} database={})", client, QuoteForLog(message.user()),
                   QuoteForLog(message.database()));
      if (events != nullptr) events->Refused(Refusal::kTlsRequired);
      co_await fatal(sqlstate::kInvalidAuthorizationSpecification, "TLS is required to connect to pgvalve",
                     "Connect with sslmode=require (or stronger).");
      co_return std::nullopt;
    }
    co_return std::move(packet);
  }
}

}  // namespace pgvalve::proxy
