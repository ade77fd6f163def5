#pragma once
// A client of etcd's v3 API over its HTTP/JSON gateway (etcd_codec.h for
// the bodies), on an Asio executor. Each call is one HTTP/1.1 POST on a
// connection of its own to the first endpoint that answers: the fleet calls
// etcd when an operator changes state and to keep its lease alive, a few
// times a second at most, so a connection per call costs nothing that
// matters and leaves no connection state to get wrong.
//
// Errors: an endpoint that cannot be reached, or a call that does not end
// within the timeout, is Unavailable (after every endpoint was tried);
// etcd's own refusal (a lease it does not know) is FailedPrecondition
// naming it; an answer that is not etcd's is DataLoss.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "config/etcd_endpoint.h"
#include "fleet/etcd_codec.h"
#include "proxy/asio.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace pgvalve::fleet {

using config::EtcdEndpoint;
using config::ParseEtcdEndpoint;

// How to reach etcd: its endpoints; for https ones, the TLS context that
// verifies etcd's certificate (and holds pgvalve's own, when etcd asks for
// one); and, when etcd has authentication on, a user's name and password
// (each client then signs in and sends the token etcd gives with every
// call, signing in again when etcd forgot it).
struct EtcdAccess {
  std::vector<EtcdEndpoint> endpoints;
  // Shared by every client and watch of the fleet; null without https.
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::string user;  // empty: no authentication
  std::string password;
};

// The access [fleet] describes (validated already); InvalidArgument when a
// TLS file cannot be read or does not hold what it should.
absl::StatusOr<EtcdAccess> EtcdAccessFrom(const config::FleetSettings& settings);

class EtcdClient {
 public:
  EtcdClient(proxy::asio::any_io_executor executor, EtcdAccess access, std::chrono::milliseconds timeout);
  EtcdClient(proxy::asio::any_io_executor executor, std::vector<EtcdEndpoint> endpoints,
             std::chrono::milliseconds timeout)
      : EtcdClient(std::move(executor), EtcdAccess{.endpoints = std::move(endpoints)}, timeout) {}

  proxy::Awaitable<absl::StatusOr<ResponseHeader>> Put(std::string key, std::string value, int64_t lease = 0);
  // The key alone; its RangeResult holds it, or nothing.
  proxy::Awaitable<absl::StatusOr<RangeResult>> Get(std::string key);
  // Every key that starts with `prefix`, in key order.
  proxy::Awaitable<absl::StatusOr<RangeResult>> GetPrefix(std::string prefix);
  proxy::Awaitable<absl::StatusOr<ResponseHeader>> Delete(std::string key);
  // Every key that starts with `prefix`.
  proxy::Awaitable<absl::StatusOr<ResponseHeader>> DeletePrefix(std::string prefix);
  proxy::Awaitable<absl::StatusOr<TxnResult>> Commit(Txn txn);

  proxy::Awaitable<absl::StatusOr<LeaseGrant>> GrantLease(int64_t ttl_seconds);
  // The lease's remaining TTL after the renewal; 0 when it had expired.
  proxy::Awaitable<absl::StatusOr<int64_t>> KeepAlive(int64_t lease);
  proxy::Awaitable<absl::StatusOr<ResponseHeader>> RevokeLease(int64_t lease);

  // The token calls carry: "" without authentication; signs in first when
  // there is none yet (or `renew`: etcd said it no longer knows it).
  proxy::Awaitable<absl::StatusOr<std::string>> Token(bool renew = false);

 private:
  // POSTs `body` to `path` on the first endpoint that answers; etcd's
  // answer, whatever its HTTP status (its errors are JSON too), once
  // signed in again if etcd no longer knew the token.
  proxy::Awaitable<absl::StatusOr<std::string>> Call(std::string_view path, std::string body);
  // Call, then `parse` of the answer. `path` is a literal of ours.
  template <typename T>
  proxy::Awaitable<absl::StatusOr<T>> CallAndParse(std::string_view path, std::string body,
                                                   absl::StatusOr<T> (*parse)(std::string_view));

  proxy::asio::any_io_executor executor_;
  EtcdAccess access_;
  std::chrono::milliseconds timeout_;
  std::string token_;
};

// A watch on every key under a prefix: etcd streams each change as it is
// committed, on one long HTTP response, so nothing polls. One executor's,
// as the client; it must outlive a running Run (Stop it, then let Run
// return).
class EtcdWatch {
 public:
  EtcdWatch(proxy::asio::any_io_executor executor, EtcdAccess access, std::chrono::milliseconds connect_timeout);
  EtcdWatch(proxy::asio::any_io_executor executor, std::vector<EtcdEndpoint> endpoints,
            std::chrono::milliseconds connect_timeout)
      : EtcdWatch(std::move(executor), EtcdAccess{.endpoints = std::move(endpoints)}, connect_timeout) {}
  ~EtcdWatch();
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

  using OnMessage = std::function<void(const WatchMessage&)>;
  // Watches `prefix` from `start_revision` on (0: from now), on the first
  // endpoint that answers, giving `on_message` every message (the first
  // says the watch was created) until the stream ends. Returns why it
  // ended: OK after Stop; Unavailable when no endpoint answered or the
  // connection broke (etcd went away); FailedPrecondition when etcd
  // canceled the watch (the revision was compacted: compact_revision says
  // from where to read again); ResourceExhausted for a message over 4 MiB.
  proxy::Awaitable<absl::Status> Run(std::string prefix, int64_t start_revision, OnMessage on_message);
  // Ends a running Run (which then returns OK); nothing otherwise.
  void Stop();

 private:
  struct Stream;
  proxy::Awaitable<absl::Status> Follow(const EtcdEndpoint& endpoint, const std::string& body,
                                        const std::string& token, const OnMessage& on_message, bool& connected);

  proxy::asio::any_io_executor executor_;
  std::vector<EtcdEndpoint> endpoints_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  // Signs the watch in, when etcd has authentication on.
  EtcdClient auth_;
  std::chrono::milliseconds connect_timeout_;
  std::shared_ptr<Stream> stream_;
  bool stopped_ = false;
};

}  // namespace pgvalve::fleet
