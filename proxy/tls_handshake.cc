#include "proxy/tls_handshake.h"

#include "proxy/deadline.h"
#include "proxy/status_text.h"
#include "tls/tls_connection.h"

namespace pgvalve::proxy {
namespace {

using std::chrono::steady_clock;

Awaitable<absl::Status> RunHandshake(ByteStream& stream, std::unique_ptr<tls::TlsConnection> tls,
                                     steady_clock::time_point deadline) {
  while (true) {
    absl::StatusOr<tls::Wait> step = tls->Handshake();
    if (!step.ok()) co_return step.status();
    if (*step == tls::Wait::kNone) break;
    const SocketWait wait = *step == tls::Wait::kWritable ? SocketWait::kWritable : SocketWait::kReadable;
    std::optional<std::tuple<error_code>> waited =
        co_await WithTimeout(stream.WaitSocket(wait), deadline - steady_clock::now());
    if (!waited) co_return absl::DeadlineExceededError("the TLS handshake did not complete in time");
    if (auto [error] = *waited; error) co_return UnavailableError(error.message());
  }
  stream.AdoptTls(std::move(tls));
  co_return absl::OkStatus();
}

}  // namespace

Awaitable<absl::Status> AcceptTls(ByteStream& stream, SSL_CTX* context, steady_clock::time_point deadline) {
  absl::StatusOr<std::unique_ptr<tls::TlsConnection>> tls =
      tls::TlsConnection::Create(context, stream.PrepareForTls(), tls::TlsConnection::Role::kServer);
  if (!tls.ok()) co_return tls.status();
  co_return co_await RunHandshake(stream, *std::move(tls), deadline);
}

Awaitable<absl::Status> ConnectTls(ByteStream& stream, SSL_CTX* context, std::string server_name,
                                   steady_clock::time_point deadline) {
  absl::StatusOr<std::unique_ptr<tls::TlsConnection>> tls =
      tls::TlsConnection::Create(context, stream.PrepareForTls(), tls::TlsConnection::Role::kClient);
  if (!tls.ok()) co_return tls.status();
  if (!server_name.empty()) {
    if (absl::Status named = (*tls)->SetServerName(server_name); !named.ok()) co_return named;
  }
  co_return co_await RunHandshake(stream, *std::move(tls), deadline);
}

}  // namespace pgvalve::proxy
