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
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "fleet/etcd_codec.h"
#include "proxy/asio.h"

namespace pgvalve::fleet {

struct EtcdEndpoint {
  std::string host;
  uint16_t port = 0;

  std::string ToString() const;
};

// "http://host:port" (or "host:port"), as etcd's clients name an endpoint.
// https is not served yet.
absl::StatusOr<EtcdEndpoint> ParseEtcdEndpoint(std::string_view url);

class EtcdClient {
 public:
  EtcdClient(proxy::asio::any_io_executor executor, std::vector<EtcdEndpoint> endpoints,
             std::chrono::milliseconds timeout);

  proxy::Awaitable<absl::StatusOr<ResponseHeader>> Put(std::string key, std::string value, int64_t lease = 0);
  // The key alone; its RangeResult holds it, or nothing.
  proxy::Awaitable<absl::StatusOr<RangeResult>> Get(std::string key);
  // Every key that starts with `prefix`, in key order.
  proxy::Awaitable<absl::StatusOr<RangeResult>> GetPrefix(std::string prefix);
  proxy::Awaitable<absl::StatusOr<ResponseHeader>> Delete(std::string key);
  proxy::Awaitable<absl::StatusOr<TxnResult>> Commit(Txn txn);

  proxy::Awaitable<absl::StatusOr<LeaseGrant>> GrantLease(int64_t ttl_seconds);
  // The lease's remaining TTL after the renewal; 0 when it had expired.
  proxy::Awaitable<absl::StatusOr<int64_t>> KeepAlive(int64_t lease);
  proxy::Awaitable<absl::StatusOr<ResponseHeader>> RevokeLease(int64_t lease);

 private:
  // POSTs `body` to `path` on the first endpoint that answers; etcd's
  // answer, whatever its HTTP status (its errors are JSON too).
  proxy::Awaitable<absl::StatusOr<std::string>> Call(std::string_view path, std::string body);

  proxy::asio::any_io_executor executor_;
  std::vector<EtcdEndpoint> endpoints_;
  std::chrono::milliseconds timeout_;
};

}  // namespace pgvalve::fleet
