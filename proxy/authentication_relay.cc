#include "proxy/authentication_relay.h"

#include <algorithm>
#include <vector>

#include "fmt/format.h"
#include "protocol/backend_messages.h"
#include "protocol/message_reader.h"
#include "protocol/message_scanner.h"
#include "protocol/message_tags.h"
#include "protocol/message_writer.h"
#include "protocol/protocol_error.h"
#include "protocol/sasl_messages.h"
#include "protocol/sqlstate.h"
#include "proxy/deadline.h"
#include "proxy/status_text.h"
#include "tls/tls_connection.h"

namespace pgvalve::proxy {
namespace {

using protocol::AuthenticationCode;
using protocol::BackendTag;
using std::chrono::steady_clock;

// Authentication messages are small (PostgreSQL takes at most 64 KiB of a
// client's token); a bigger one is not one.
constexpr uint32_t kMaxAuthenticationMessage = 1 << 20;

struct WholeMessage {
  std::vector<std::byte> bytes;  // tag, length and body
  char tag() const { return static_cast<char>(bytes[0]); }
  std::span<const std::byte> body() const { return std::span(bytes).subspan(protocol::kMessageHeaderSize); }
};

absl::Status TimedOut() {
  return protocol::ErrorWithSqlState(protocol::sqlstate::kConnectionFailure,
                                     "startup and authentication did not complete in time");
}

// Header and body under one timeout: a timer armed and cancelled per read
// costs two timerfd updates and a parallel group each, at every session
// start.
Awaitable<absl::StatusOr<WholeMessage>> ReadWholeMessageUntimed(ByteStream& stream, std::string_view from) {
  WholeMessage message;
  message.bytes.resize(protocol::kMessageHeaderSize);
  if (auto [error, read] = co_await stream.ReadExactly(message.bytes); error) {
    co_return UnavailableError(fmt::format("{} left: {}", from, error.message()));
  }
  const uint32_t length = protocol::DeclaredLength(std::span(message.bytes).first<protocol::kMessageHeaderSize>());
  if (length < protocol::kMinMessageLength || length > kMaxAuthenticationMessage) {
    co_return protocol::ProtocolViolation(
        fmt::format("{} sent a message of {} bytes during authentication", from, static_cast<int32_t>(length)));
  }
  message.bytes.resize(1 + size_t{length});
  const std::span<std::byte> body = std::span(message.bytes).subspan(protocol::kMessageHeaderSize);
  if (auto [error, read] = co_await stream.ReadExactly(body); error) {
    co_return UnavailableError(fmt::format("{} left: {}", from, error.message()));
  }
  co_return message;
}

Awaitable<absl::StatusOr<WholeMessage>> ReadWholeMessage(ByteStream& stream, std::string_view from,
                                                         steady_clock::time_point deadline) {
  auto message = co_await WithTimeout(ReadWholeMessageUntimed(stream, from), deadline - steady_clock::now());
  if (!message) co_return TimedOut();
  co_return *std::move(message);
}

Awaitable<absl::Status> Forward(ByteStream& to, std::span<const std::byte> bytes, std::string_view to_name) {
  auto [error, written] = co_await to.WriteAll(bytes);
  if (error) co_return UnavailableError(fmt::format("{} left: {}", to_name, error.message()));
  co_return absl::OkStatus();
}

Awaitable<absl::Status> ToClient(ByteStream& client, std::span<const std::byte> bytes, SessionCounters& counters) {
  absl::Status sent = co_await Forward(client, bytes, "the client");
  if (sent.ok()) counters.add_bytes_to_client(bytes.size());
  co_return sent;
}

// The client's choice in answer to an offer pgvalve took PLUS out of.
absl::Status CheckSaslChoice(std::span<const std::byte> body, bool server_tls, const std::string& upstream) {
  absl::StatusOr<protocol::SaslInitialResponse> response = protocol::ParseSaslInitialResponse(body);
  if (!response.ok()) return response.status();
  if (response->mechanism == protocol::kScramSha256Plus) {
    return protocol::WithDetail(
        protocol::ProtocolViolation("client selected an invalid SASL authentication mechanism"),
        "pgvalve did not offer SCRAM-SHA-256-PLUS: channel binding cannot pass through the TLS session pgvalve "
        "terminates unless pgvalve presents the server's own certificate.");
  }
  if (server_tls && protocol::ScramChannelBindingFlag(response->data) == 'y') {
    return protocol::WithDetail(
        protocol::ProtocolViolation("SCRAM channel binding negotiation error"),
        fmt::format("The client supports channel binding, and upstream \"{}\" is reached over TLS, so the server "
                    "would take the SCRAM-SHA-256-PLUS pgvalve removed for a downgrade attack. Channel binding "
                    "cannot pass through pgvalve's TLS unless pgvalve presents the server's own certificate "
                    "(client_tls_cert_file and client_tls_key_file). Otherwise connect with "
                    "channel_binding=disable, or set server_tls_sslmode = \"disable\" for this upstream.",
                    upstream));
  }
  return absl::OkStatus();
}

}  // namespace

Awaitable<absl::Status> RelayAuthentication(ByteStream& client, ByteStream& server, std::string upstream_name,
                                            steady_clock::time_point deadline, SessionCounters& counters,
                                            bool plain_refusal_is_retried) {
  const bool server_tls = server.tls() != nullptr;
  const bool binding_passes =
      client.tls() != nullptr && server_tls && client.tls()->PresentsCertificateOf(*server.tls());
  while (true) {
    absl::StatusOr<WholeMessage> message = co_await ReadWholeMessage(server, "the server", deadline);
    if (!message.ok()) co_return message.status();
    const char tag = message->tag();
    if (tag == static_cast<char>(BackendTag::kNegotiateProtocolVersion) ||
        tag == static_cast<char>(BackendTag::kNoticeResponse)) {
      if (absl::Status sent = co_await ToClient(client, message->bytes, counters); !sent.ok()) co_return sent;
      continue;
    }
    if (plain_refusal_is_retried && tag == static_cast<char>(BackendTag::kErrorResponse)) {
      absl::StatusOr<protocol::ErrorFields> error = protocol::ParseErrorOrNotice(message->body());
      if (error.ok() && error->sqlstate == protocol::sqlstate::kInvalidAuthorizationSpecification) {
        co_return absl::FailedPreconditionError(fmt::format("refused in plain text: {}", error->message));
      }
    }
    if (tag != static_cast<char>(BackendTag::kAuthentication)) {
      // An ErrorResponse, or whatever the relay reads better than this.
      co_return co_await ToClient(client, message->bytes, counters);
    }
    absl::StatusOr<protocol::AuthenticationRequest> request = protocol::ParseAuthenticationRequest(message->body());
    if (!request.ok()) co_return request.status();
    if (request->code == AuthenticationCode::kOk) co_return co_await ToClient(client, message->bytes, counters);

    bool plus_removed = false;
    std::span<const std::byte> to_client = message->bytes;
    protocol::MessageWriter rewritten;
    if (request->code == AuthenticationCode::kSasl && !binding_passes) {
      absl::StatusOr<std::vector<std::string_view>> mechanisms = protocol::ParseSaslMechanisms(request->data);
      if (!mechanisms.ok()) co_return mechanisms.status();
      const auto plus = std::find(mechanisms->begin(), mechanisms->end(), protocol::kScramSha256Plus);
      if (plus != mechanisms->end()) {
        mechanisms->erase(plus);
        protocol::AppendAuthenticationSasl(rewritten, *mechanisms);
        to_client = rewritten.bytes();
        plus_removed = true;
      }
    }
    if (absl::Status sent = co_await ToClient(client, to_client, counters); !sent.ok()) co_return sent;
    // SASLFinal is followed by AuthenticationOk, with no answer between.
    if (request->code == AuthenticationCode::kSaslFinal) continue;

    absl::StatusOr<WholeMessage> answer = co_await ReadWholeMessage(client, "the client", deadline);
    if (!answer.ok()) co_return answer.status();
    counters.add_bytes_from_client(answer->bytes.size());
    const bool password_message = answer->tag() == static_cast<char>(protocol::FrontendTag::kPassword);
    if (password_message && plus_removed) {
      if (absl::Status choice = CheckSaslChoice(answer->body(), server_tls, upstream_name); !choice.ok()) {
        co_return choice;
      }
    }
    if (absl::Status sent = co_await Forward(server, answer->bytes, "the server"); !sent.ok()) co_return sent;
    // A Terminate, or anything else that is not an answer: the relay's.
    if (!password_message) co_return absl::OkStatus();
  }
}

}  // namespace pgvalve::proxy
