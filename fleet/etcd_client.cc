#include "fleet/etcd_client.h"

#include <array>
#include <charconv>
#include <initializer_list>
#include <tuple>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "proxy/status_text.h"
#include "tls/peer_check.h"
#include "tls/tls_context.h"

namespace pgvalve::fleet {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using proxy::Awaitable;
using proxy::kUseTuple;

// etcd's answers are small: a state key, a list of instances. A bound
// keeps a misbehaving endpoint from costing memory.
constexpr size_t kMaxAnswerBytes = 4 << 20;

// A watch's messages are as small as the keys it watches; the bound is the
// one every answer has.
constexpr size_t kMaxWatchMessageBytes = kMaxAnswerBytes;

std::string Text(std::initializer_list<std::string_view> parts) {
  std::string text;
  for (std::string_view part : parts) text.append(part);
  return text;
}

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

struct HttpAnswer {
  unsigned status = 0;
  std::string body;
};

// Resolves the endpoint's host and connects `tcp` to the first address
// that answers, within `tcp`'s expiry.
Awaitable<absl::Status> Connect(beast::tcp_stream& tcp, const EtcdEndpoint& endpoint) {
  proxy::tcp::resolver resolver(tcp.get_executor());
  auto [resolve_error, addresses] =
      co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port), kUseTuple);
  if (resolve_error) co_return absl::UnavailableError(Text({"cannot resolve ", endpoint.host, ": ",
                                                             resolve_error.message()}));
  auto [error, connected] = co_await tcp.async_connect(addresses, kUseTuple);
  if (error) co_return absl::UnavailableError(Text({"cannot connect: ", error.message()}));
  co_return absl::OkStatus();
}

// TLS over a connected stream: etcd's certificate must chain to the
// context's CAs and name the endpoint's host.
Awaitable<absl::Status> Handshake(TlsStream& stream, const EtcdEndpoint& endpoint) {
  if (absl::Status named = tls::ExpectPeerName(stream.native_handle(), endpoint.host); !named.ok()) co_return named;
  auto [error] = co_await stream.async_handshake(proxy::asio::ssl::stream_base::client, kUseTuple);
  if (!error) co_return absl::OkStatus();
  const std::string refusal = tls::PeerRefusal(stream.native_handle());
  if (!refusal.empty()) co_return absl::UnavailableError(Text({"etcd's certificate was refused: ", refusal}));
  co_return absl::UnavailableError(Text({"TLS handshake failed: ", error.message()}));
}

http::request<http::string_body> PostRequest(const EtcdEndpoint& endpoint, std::string_view path,
                                             const std::string& body, std::string_view token) {
  http::request<http::string_body> request{http::verb::post, std::string(path), 11};
  request.set(http::field::host, endpoint.ToString());
  request.set(http::field::content_type, "application/json");
  if (!token.empty()) request.set(http::field::authorization, token);
  request.body() = body;
  return request;
}

// One POST and its answer on a connected (and, for https, TLS) stream.
template <typename Stream>
Awaitable<absl::StatusOr<HttpAnswer>> PostAndRead(Stream& stream, http::request<http::string_body>& request,
                                                  std::chrono::milliseconds timeout) {
  request.keep_alive(false);
  request.prepare_payload();
  auto [write_error, written] = co_await http::async_write(stream, request, kUseTuple);
  if (write_error) co_return absl::UnavailableError(Text({"cannot send: ", write_error.message()}));

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  auto [error, read] = co_await http::async_read(stream, buffer, parser, kUseTuple);
  if (error == beast::error::timeout) {
    co_return absl::UnavailableError(Text({"no answer within ", std::to_string(timeout.count()), " ms"}));
  }
  if (error) co_return absl::UnavailableError(Text({"no answer: ", error.message()}));
  proxy::error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(proxy::tcp::socket::shutdown_both, ignored);
  co_return HttpAnswer{parser.get().result_int(), std::move(parser.get().body())};
}

// One exchange with one endpoint; the error says how far it got.
Awaitable<absl::StatusOr<HttpAnswer>> Exchange(proxy::asio::any_io_executor executor, const EtcdAccess& access,
                                               const EtcdEndpoint& endpoint, std::string_view path,
                                               const std::string& body, std::string_view token,
                                               std::chrono::milliseconds timeout) {
  beast::tcp_stream tcp(executor);
  tcp.expires_after(timeout);
  absl::Status connected = co_await Connect(tcp, endpoint);
  if (!connected.ok()) co_return connected;
  http::request<http::string_body> request = PostRequest(endpoint, path, body, token);
  if (!endpoint.tls) {
    absl::StatusOr<HttpAnswer> answer = co_await PostAndRead(tcp, request, timeout);
    co_return answer;
  }
  if (!access.tls) co_return absl::FailedPreconditionError("an https endpoint and no TLS context");
  TlsStream stream(std::move(tcp), *access.tls);
  absl::Status secured = co_await Handshake(stream, endpoint);
  if (!secured.ok()) co_return secured;
  absl::StatusOr<HttpAnswer> answer = co_await PostAndRead(stream, request, timeout);
  co_return answer;
}

// Sends the watch's request on `stream` and gives `on_message` each
// message of the answer until it ends; `connected` once etcd took it.
template <typename Stream>
Awaitable<absl::Status> ReadWatch(Stream& stream, beast::tcp_stream& tcp, http::request<http::string_body>& request,
                                  const EtcdWatch::OnMessage& on_message, bool& connected) {
  auto [write_error, written] = co_await http::async_write(stream, request, kUseTuple);
  if (write_error) co_return absl::UnavailableError(Text({"cannot send: ", write_error.message()}));

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);  // the stream has no end; each message is bounded below
  auto [error, header_read] = co_await http::async_read_header(stream, buffer, parser, kUseTuple);
  if (error) co_return absl::UnavailableError(Text({"no answer: ", error.message()}));
  if (parser.get().result() != http::status::ok) {
    const std::string status = std::to_string(parser.get().result_int());
    co_return absl::UnavailableError(Text({"the watch was refused: HTTP ", status}));
  }
  connected = true;
  // A watch is quiet for as long as nothing changes.
  tcp.expires_never();

  WatchStreamSplitter splitter(kMaxWatchMessageBytes);
  std::array<char, 16 * 1024> piece;
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    std::tie(error, std::ignore) = co_await http::async_read_some(stream, buffer, parser, kUseTuple);
    if (error == http::error::need_buffer) error = {};
    if (error) co_return absl::UnavailableError(Text({"the watch's stream broke: ", error.message()}));
    const size_t read = piece.size() - parser.get().body().size;
    if (absl::Status taken = splitter.Append(std::string_view(piece.data(), read)); !taken.ok()) co_return taken;
    while (std::optional<std::string> text = splitter.Next()) {
      absl::StatusOr<WatchMessage> message = ParseWatchMessage(*text);
      if (!message.ok()) co_return message.status();
      on_message(*message);
      if (message->canceled) {
        // No conditional expression of strings in a coroutine: GCC 12
        // destroys its temporary twice.
        std::string why = Text({"etcd canceled the watch: ", message->cancel_reason});
        if (message->compact_revision != 0) {
          why = Text({"etcd canceled the watch: revision compacted, history kept from ",
                      std::to_string(message->compact_revision)});
        }
        co_return absl::FailedPreconditionError(why);
      }
    }
  }
  co_return absl::UnavailableError("etcd ended the watch's stream");
}

}  // namespace

absl::StatusOr<EtcdAccess> EtcdAccessFrom(const config::FleetSettings& settings) {
  EtcdAccess access;
  bool https = false;
  for (const std::string& url : settings.etcd_endpoints) {
    if (absl::StatusOr<EtcdEndpoint> endpoint = ParseEtcdEndpoint(url); endpoint.ok()) {
      https = https || endpoint->tls;
      access.endpoints.push_back(*std::move(endpoint));
    }
  }
  if (https) {
    absl::StatusOr<tls::ContextPtr> context = tls::MakeEtcdClientContext(settings);
    if (!context.ok()) return context.status();
    access.tls = std::make_shared<proxy::asio::ssl::context>(context->release());
  }
  access.user = settings.etcd_user.value_or("");
  access.password = settings.etcd_password.value_or("");
  return access;
}

EtcdClient::EtcdClient(proxy::asio::any_io_executor executor, EtcdAccess access, std::chrono::milliseconds timeout)
    : executor_(std::move(executor)), access_(std::move(access)), timeout_(timeout) {}

Awaitable<absl::StatusOr<std::string>> EtcdClient::Token(bool renew) {
  if (access_.user.empty()) co_return std::string();
  if (!token_.empty() && !renew) co_return token_;
  token_.clear();
  std::string failures;
  for (const EtcdEndpoint& endpoint : access_.endpoints) {
    const std::string body = AuthenticateRequest(access_.user, access_.password);
    absl::StatusOr<HttpAnswer> answer =
        co_await Exchange(executor_, access_, endpoint, "/v3/auth/authenticate", body, "", timeout_);
    if (answer.ok()) {
      absl::StatusOr<std::string> token = ParseAuthenticate(answer->body);
      // A refused sign-in is etcd's answer, not an unreachable endpoint.
      if (!token.ok()) co_return absl::PermissionDeniedError(Text({"etcd refused user \"", access_.user, "\": ",
                                                                   proxy::StatusText(token.status())}));
      token_ = *std::move(token);
      co_return token_;
    }
    if (!failures.empty()) failures += "; ";
    failures += Text({endpoint.ToString(), ": ", proxy::StatusText(answer.status())});
  }
  if (access_.endpoints.empty()) failures = "no endpoint configured";
  co_return absl::UnavailableError(Text({"etcd unreachable (", failures, ")"}));
}

Awaitable<absl::StatusOr<std::string>> EtcdClient::Call(std::string_view path, std::string body) {
  absl::StatusOr<std::string> token = co_await Token();
  if (!token.ok()) co_return token.status();
  std::string failures;
  for (const EtcdEndpoint& endpoint : access_.endpoints) {
    absl::StatusOr<HttpAnswer> answer =
        co_await Exchange(executor_, access_, endpoint, path, body, *token, timeout_);
    // etcd forgets tokens (after a restart, or an idle while): once more
    // with a new one.
    if (answer.ok() && answer->status == 401 && !access_.user.empty()) {
      token = co_await Token(/*renew=*/true);
      if (!token.ok()) co_return token.status();
      answer = co_await Exchange(executor_, access_, endpoint, path, body, *token, timeout_);
    }
    if (answer.ok()) co_return std::move(answer->body);
    if (!failures.empty()) failures += "; ";
    failures += Text({endpoint.ToString(), ": ", proxy::StatusText(answer.status())});
  }
  if (access_.endpoints.empty()) failures = "no endpoint configured";
  co_return absl::UnavailableError(Text({"etcd unreachable (", failures, ")"}));
}

template <typename T>
Awaitable<absl::StatusOr<T>> EtcdClient::CallAndParse(std::string_view path, std::string body,
                                                      absl::StatusOr<T> (*parse)(std::string_view)) {
  absl::StatusOr<std::string> answer = co_await Call(path, std::move(body));
  if (!answer.ok()) co_return answer.status();
  co_return parse(*answer);
}

Awaitable<absl::StatusOr<ResponseHeader>> EtcdClient::Put(std::string key, std::string value, int64_t lease) {
  return CallAndParse("/v3/kv/put", PutRequest(key, value, lease), ParseHeaderOnly);
}

Awaitable<absl::StatusOr<RangeResult>> EtcdClient::Get(std::string key) {
  return CallAndParse("/v3/kv/range", RangeRequest(key, ""), ParseRange);
}

Awaitable<absl::StatusOr<RangeResult>> EtcdClient::GetPrefix(std::string prefix) {
  return CallAndParse("/v3/kv/range", RangeRequest(prefix, PrefixEnd(prefix)), ParseRange);
}

Awaitable<absl::StatusOr<ResponseHeader>> EtcdClient::Delete(std::string key) {
  return CallAndParse("/v3/kv/deleterange", DeleteRangeRequest(key, ""), ParseHeaderOnly);
}

Awaitable<absl::StatusOr<ResponseHeader>> EtcdClient::DeletePrefix(std::string prefix) {
  return CallAndParse("/v3/kv/deleterange", DeleteRangeRequest(prefix, PrefixEnd(prefix)), ParseHeaderOnly);
}

Awaitable<absl::StatusOr<TxnResult>> EtcdClient::Commit(Txn txn) {
  return CallAndParse("/v3/kv/txn", TxnRequest(txn), ParseTxn);
}

Awaitable<absl::StatusOr<LeaseGrant>> EtcdClient::GrantLease(int64_t ttl_seconds) {
  return CallAndParse("/v3/lease/grant", LeaseGrantRequest(ttl_seconds), ParseLeaseGrant);
}

Awaitable<absl::StatusOr<int64_t>> EtcdClient::KeepAlive(int64_t lease) {
  return CallAndParse("/v3/lease/keepalive", LeaseIdRequest(lease), ParseKeepAlive);
}

Awaitable<absl::StatusOr<ResponseHeader>> EtcdClient::RevokeLease(int64_t lease) {
  return CallAndParse("/v3/lease/revoke", LeaseIdRequest(lease), ParseHeaderOnly);
}

// The watch's connection: plain, or TLS over it for an https endpoint.
struct EtcdWatch::Stream {
  Stream(proxy::asio::any_io_executor executor, proxy::asio::ssl::context* tls_context) {
    if (tls_context != nullptr) {
      tls.emplace(std::move(executor), *tls_context);
    } else {
      plain.emplace(std::move(executor));
    }
  }
  beast::tcp_stream& tcp() { return plain ? *plain : tls->next_layer(); }

  std::optional<beast::tcp_stream> plain;
  std::optional<TlsStream> tls;
};

EtcdWatch::EtcdWatch(proxy::asio::any_io_executor executor, EtcdAccess access,
                     std::chrono::milliseconds connect_timeout)
    : executor_(executor),
      endpoints_(access.endpoints),
      tls_(access.tls),
      auth_(executor, std::move(access), connect_timeout),
      connect_timeout_(connect_timeout) {}

EtcdWatch::~EtcdWatch() { Stop(); }

void EtcdWatch::Stop() {
  stopped_ = true;
  if (stream_) {
    proxy::error_code ignored;
    stream_->tcp().socket().close(ignored);
  }
}

Awaitable<absl::Status> EtcdWatch::Run(std::string prefix, int64_t start_revision, OnMessage on_message) {
  stopped_ = false;
  const std::string body = WatchCreateRequest(prefix, PrefixEnd(prefix), start_revision);
  // A fresh sign-in each time: a watch is started after etcd came back,
  // which may have forgotten every token.
  absl::StatusOr<std::string> token = co_await auth_.Token(/*renew=*/true);
  if (!token.ok()) co_return token.status();
  if (stopped_) co_return absl::OkStatus();
  std::string failures;
  for (const EtcdEndpoint& endpoint : endpoints_) {
    bool connected = false;
    absl::Status ended = co_await Follow(endpoint, body, *token, on_message, connected);
    stream_.reset();
    if (stopped_) co_return absl::OkStatus();
    // Once a stream ran, how it ended is the answer: the caller decides
    // whether to watch again, and from which revision.
    if (connected) co_return ended;
    if (!failures.empty()) failures += "; ";
    failures += Text({endpoint.ToString(), ": ", proxy::StatusText(ended)});
  }
  if (endpoints_.empty()) failures = "no endpoint configured";
  co_return absl::UnavailableError(Text({"etcd unreachable (", failures, ")"}));
}

Awaitable<absl::Status> EtcdWatch::Follow(const EtcdEndpoint& endpoint, const std::string& body,
                                          const std::string& token, const OnMessage& on_message, bool& connected) {
  if (endpoint.tls && !tls_) co_return absl::FailedPreconditionError("an https endpoint and no TLS context");
  stream_ = std::make_shared<Stream>(executor_, endpoint.tls ? tls_.get() : nullptr);
  // Held by the frame: Stop may drop stream_ meanwhile.
  const std::shared_ptr<Stream> stream = stream_;
  beast::tcp_stream& tcp = stream->tcp();
  tcp.expires_after(connect_timeout_);
  absl::Status reached = co_await Connect(tcp, endpoint);
  if (!reached.ok()) co_return reached;
  // A Stop while resolving found no socket to close.
  if (stopped_) co_return absl::CancelledError("stopped");
  http::request<http::string_body> request = PostRequest(endpoint, "/v3/watch", body, token);
  request.prepare_payload();
  if (!stream->tls) {
    absl::Status ended = co_await ReadWatch(tcp, tcp, request, on_message, connected);
    co_return ended;
  }
  absl::Status secured = co_await Handshake(*stream->tls, endpoint);
  if (!secured.ok()) co_return secured;
  absl::Status ended = co_await ReadWatch(*stream->tls, tcp, request, on_message, connected);
  co_return ended;
}

}  // namespace pgvalve::fleet
