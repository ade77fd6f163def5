#include "admin/console/admin_session.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "admin/commands/command_table.h"
#include "admin/commands/command_tokenizer.h"
#include "admin/console/admin_credentials.h"
#include "admin/console/scram_authenticator.h"
#include "fmt/format.h"
#include "pgvalve_version.h"
#include "protocol/backend_writer.h"
#include "protocol/message_reader.h"
#include "protocol/message_scanner.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "protocol/startup_packet.h"
#include "protocol/utf8.h"
#include "proxy/client_negotiation.h"
#include "proxy/deadline.h"
#include "proxy/error_reply.h"
#include "proxy/log_text.h"
#include "proxy/startup_reader.h"
#include "proxy/status_text.h"

namespace pgvalve::admin {
namespace {

namespace sqlstate = protocol::sqlstate;
using protocol::FrontendTag;
using proxy::StatusText;

constexpr std::string_view kAdminDatabase = "pgvalve";
// Admin queries are short; anything bigger is not one.
constexpr uint32_t kMaxAdminMessageLength = 1 << 20;
constexpr std::chrono::seconds kAuthenticationTimeout{30};

std::span<const std::byte> AsBytes(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

void AppendError(protocol::MessageWriter& out, const absl::Status& status) {
  const std::string detail = protocol::DetailOf(status);
  protocol::AppendErrorResponse(out, {.severity = protocol::Severity::kError,
                                      .sqlstate = protocol::SqlStateOf(status),
                                      .message = StatusText(status),
                                      .detail = detail});
}

}  // namespace

AdminSession::AdminSession(AdminServices& services, proxy::ByteStream client,
                           proxy::ClientAddress address)
    : services_(services), client_(std::move(client)), address_(std::move(address)) {}

Awaitable<bool> AdminSession::Flush() {
  if (out_.empty()) co_return true;
  auto [error, written] = co_await client_.WriteAll(out_.bytes());
  out_.Clear();
  co_return !error;
}

Awaitable<bool> AdminSession::Notice(std::string message, std::string detail) {
  protocol::AppendNoticeResponse(out_, {.severity = protocol::Severity::kNotice,
                                        .sqlstate = sqlstate::kSuccessfulCompletion,
                                        .message = message,
                                        .detail = detail});
  co_return co_await Flush();
}

Awaitable<std::optional<AdminSession::Message>> AdminSession::ReadMessage() {
  std::array<std::byte, protocol::kMessageHeaderSize> header;
  auto [header_error, header_read] = co_await client_.ReadExactly(header);
  if (header_error) co_return std::nullopt;
  const uint32_t length = protocol::LoadBigEndian32(header.data() + 1);
  if (length < protocol::kMinMessageLength || length > kMaxAdminMessageLength) {
    co_await proxy::SendFatal(client_, sqlstate::kProtocolViolation,
                              fmt::format("invalid message length {}", static_cast<int32_t>(length)));
    co_return std::nullopt;
  }
  Message message{static_cast<char>(header[0]), std::vector<std::byte>(length - 4)};
  auto [body_error, body_read] = co_await client_.ReadExactly(message.body);
  if (body_error) co_return std::nullopt;
  co_return message;
}

Awaitable<void> AdminSession::Run() {
  caller_ = co_await Start();
  if (!caller_) co_return;
  spdlog::info("admin session open: user={} from={}", proxy::QuoteForLog(caller_->user),
               caller_->address);

  // Once an extended-protocol message was refused, the rest of its batch is
  // skipped up to the Sync, as PostgreSQL skips after an error.
  bool skipping_to_sync = false;
  while (true) {
    std::optional<Message> message = co_await ReadMessage();
    if (!message) break;
    // Until its reply is flushed, a shutdown this command completes (a
    // KILL of the last session) waits for it.
    const std::shared_ptr<void> stop_hold = services_.process.HoldStop();
    const auto tag = static_cast<FrontendTag>(message->tag);
    if (tag == FrontendTag::kTerminate) break;
    if (tag == FrontendTag::kQuery) {
      protocol::MessageReader reader(message->body, "Query");
      absl::StatusOr<std::string_view> query = reader.ReadCString();
      if (!query.ok()) {
        co_await proxy::SendFatal(client_, sqlstate::kProtocolViolation, StatusText(query.status()));
        break;
      }
      co_await RunQuery(*query);
    } else if (tag == FrontendTag::kSync) {
      skipping_to_sync = false;
      protocol::AppendReadyForQuery(out_, protocol::TransactionStatus::kIdle);
    } else if (tag == FrontendTag::kFlush) {
      // Nothing is pending: every reply is flushed when it is written.
    } else if (protocol::IsFrontendTag(message->tag) && tag != FrontendTag::kPassword) {
      if (!skipping_to_sync) {
        AppendError(out_, protocol::ErrorWithSqlState(
                              sqlstate::kFeatureNotSupported,
                              "the pgvalve admin console supports only the simple query protocol"));
      }
      // A FunctionCall is a complete request of its own; a batch waits for Sync.
      if (tag == FrontendTag::kFunctionCall) {
        protocol::AppendReadyForQuery(out_, protocol::TransactionStatus::kIdle);
      } else {
        skipping_to_sync = true;
      }
    } else {
      co_await proxy::SendFatal(client_, sqlstate::kProtocolViolation,
                                fmt::format("unexpected message type 0x{:02x}",
                                            static_cast<uint8_t>(message->tag)));
      break;
    }
    if (!co_await Flush()) break;
  }
  spdlog::info("admin session closed: user={} from={}", proxy::QuoteForLog(caller_->user),
               caller_->address);
  client_.Close();
}

Awaitable<void> AdminSession::RunQuery(std::string_view query) {
  // What an operator types may be kept (a REASON in the state file, which
  // must load again after a restart): it is UTF-8, as PostgreSQL requires.
  absl::StatusOr<std::vector<Token>> tokens =
      protocol::FirstInvalidUtf8(query)
          ? absl::StatusOr<std::vector<Token>>(protocol::ErrorWithSqlState(
                sqlstate::kCharacterNotInRepertoire,
                protocol::InvalidUtf8Message(query, *protocol::FirstInvalidUtf8(query))))
          : Tokenize(query);
  if (!tokens.ok()) {
    AppendError(out_, tokens.status());
  } else {
    std::vector<std::vector<Token>> statements = SplitStatements(*std::move(tokens));
    if (statements.empty()) protocol::AppendEmptyQueryResponse(out_);
    CommandContext context{services_, *caller_, *this};
    for (const auto& statement : statements) {
      absl::StatusOr<CommandResult> result =
          co_await Dispatch(context, statement, StatementText(query, statement));
      if (!result.ok()) {
        // Like a failing statement in a multi-statement query: the rest is
        // not run.
        AppendError(out_, result.status());
        break;
      }
      if (result->rows) result->rows->AppendTo(out_);
      protocol::AppendCommandComplete(out_, result->command_tag);
    }
  }
  protocol::AppendReadyForQuery(out_, protocol::TransactionStatus::kIdle);
}

Awaitable<std::optional<AdminCaller>> AdminSession::Start() {
  const auto deadline = std::chrono::steady_clock::now() + kAuthenticationTimeout;
  const proxy::ConfigHolder::Snapshot settings = services_.config.Both();
  const proxy::ClientTlsPolicy policy =
      address_.is_unix() ? proxy::ClientTlsPolicy{}
                         : proxy::ClientTlsPolicy{settings.tls->admin(), settings.config->admin.tls.mode};
  std::optional<proxy::ReceivedStartupPacket> startup =
      co_await proxy::NegotiateStartup(client_, policy, deadline, address_.ToString(), security_,
                                       /*events=*/nullptr);
  // Admin commands are not cancellable by a CancelRequest.
  if (!startup || !std::holds_alternative<protocol::StartupMessage>(startup->parsed)) co_return std::nullopt;
  const auto& message = std::get<protocol::StartupMessage>(startup->parsed);
  const std::string user(message.user());
  if (std::optional<std::string> refusal = services_.access.Refusal(
          proxy::AccessListener::kAdmin, address_, security_, message.database(), user)) {
    co_await proxy::SendFatal(client_, sqlstate::kInvalidAuthorizationSpecification, *refusal);
    co_return std::nullopt;
  }
  if (message.database() != kAdminDatabase) {
    co_await proxy::SendFatal(client_, sqlstate::kInvalidCatalogName,
                              fmt::format("database \"{}\" does not exist", message.database()),
                              {}, "The admin console's database is \"pgvalve\".");
    co_return std::nullopt;
  }

  auto config = services_.config.Current();
  auto authenticated =
      co_await proxy::WithTimeout(Authenticate(config, user), deadline - std::chrono::steady_clock::now());
  if (!authenticated || !*authenticated) {
    spdlog::warn("admin login failed: user={} from={}", proxy::QuoteForLog(user),
                 address_.ToString());
    co_return std::nullopt;
  }

  AdminCaller caller{user, config::AdminRole::kMonitor, address_.ToString()};
  for (const auto& admin_user : config->admin.users) {
    if (admin_user.name == user) caller.role = admin_user.role;
  }
  // What psql and drivers expect to hear before the first query.
  const std::pair<std::string_view, std::string> parameters[] = {
      {"server_version", fmt::format("15.0 (pgvalve {})", kVersion)},
      {"server_encoding", "UTF8"},
      {"client_encoding", "UTF8"},
      {"DateStyle", "ISO, MDY"},
      {"TimeZone", "UTC"},
      {"integer_datetimes", "on"},
      {"standard_conforming_strings", "on"},
      {"is_superuser", "off"},
      {"session_authorization", user},
      {"application_name", std::string(message.application_name())},
  };
  protocol::AppendAuthentication(out_, protocol::AuthenticationCode::kOk);
  for (const auto& [name, value] : parameters) protocol::AppendParameterStatus(out_, name, value);
  std::array<std::byte, 8> key;
  RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size()));
  protocol::AppendBackendKeyData(out_, static_cast<int32_t>(protocol::LoadBigEndian32(key.data()) & 0x7fffffff),
                                 std::span(key).subspan(4));
  protocol::AppendReadyForQuery(out_, protocol::TransactionStatus::kIdle);
  if (!co_await Flush()) co_return std::nullopt;
  co_return caller;
}

Awaitable<bool> AdminSession::Refuse(const absl::Status& status) {
  co_await proxy::SendFatal(client_, protocol::SqlStateOf(status), StatusText(status));
  co_return false;
}

Awaitable<bool> AdminSession::Authenticate(const std::shared_ptr<const config::Config>& config,
                                           const std::string& user) {
  const ScramCredential* credential = services_.credentials.Find(config, user);
  // An unknown user goes through the same exchange and fails at the same
  // step with the same message as a wrong password.
  ScramAuthenticator authenticator(credential, user);
  std::string mechanisms;
  for (std::string_view mechanism : ScramAuthenticator::Mechanisms()) {
    mechanisms.append(mechanism).push_back('\0');
  }
  mechanisms.push_back('\0');
  protocol::AppendAuthentication(out_, protocol::AuthenticationCode::kSasl, AsBytes(mechanisms));
  if (!co_await Flush()) co_return false;

  std::optional<Message> initial = co_await ReadMessage();
  if (!initial) co_return false;
  if (initial->tag != static_cast<char>(FrontendTag::kPassword)) {
    co_return co_await Refuse(protocol::ProtocolViolation("expected a SASLInitialResponse"));
  }
  absl::StatusOr<std::string> server_first = authenticator.OnInitialResponse(initial->body);
  if (!server_first.ok()) co_return co_await Refuse(server_first.status());
  protocol::AppendAuthentication(out_, protocol::AuthenticationCode::kSaslContinue,
                                 AsBytes(*server_first));
  if (!co_await Flush()) co_return false;

  std::optional<Message> final_message = co_await ReadMessage();
  if (!final_message) co_return false;
  if (final_message->tag != static_cast<char>(FrontendTag::kPassword)) {
    co_return co_await Refuse(protocol::ProtocolViolation("expected a SASLResponse"));
  }
  absl::StatusOr<std::string> server_final = authenticator.OnFinalResponse(final_message->body);
  if (!server_final.ok()) co_return co_await Refuse(server_final.status());
  protocol::AppendAuthentication(out_, protocol::AuthenticationCode::kSaslFinal,
                                 AsBytes(*server_final));
  co_return true;
}

}  // namespace pgvalve::admin
