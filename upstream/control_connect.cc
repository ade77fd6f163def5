#include "upstream/control_connect.h"

#include <algorithm>

#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/status_text.h"

namespace pgvalve::upstream {
namespace {

namespace asio = proxy::asio;
using proxy::Awaitable;
using proxy::kUseTuple;

std::string Where(const config::UpstreamConfig& upstream) {
  if (IsSocketDirectory(upstream.host)) return fmt::format("{}/.s.PGSQL.{}", upstream.host, upstream.port);
  if (upstream.host.find(':') != std::string::npos) {
    return fmt::format("[{}]:{}", upstream.host, upstream.port);  // IPv6
  }
  return fmt::format("{}:{}", upstream.host, upstream.port);
}

Awaitable<absl::StatusOr<ControlAddresses>> LookUp(std::string host, uint16_t port) {
  asio::ip::tcp::resolver resolver(co_await asio::this_coro::executor);
  auto [error, results] = co_await resolver.async_resolve(host, std::to_string(port), kUseTuple);
  if (error) {
    co_return proxy::UnavailableError(fmt::format("could not resolve \"{}\": {}", host, error.message()));
  }
  ControlAddresses addresses;
  for (const auto& entry : results) {
    std::string address = entry.endpoint().address().to_string();
    if (std::find(addresses.begin(), addresses.end(), address) == addresses.end()) {
      addresses.push_back(std::move(address));
    }
  }
  co_return addresses;
}

}  // namespace

bool IsSocketDirectory(const std::string& host) { return host.starts_with('/'); }

absl::Status ControlConnectFailure(const config::UpstreamConfig& upstream, std::string_view reason) {
  // 08001, as postgres_fdw and dblink report a server they cannot reach.
  return protocol::WithSqlState(
      proxy::UnavailableError(
          fmt::format("could not connect to upstream \"{}\" at {} as control user \"{}\": {}", upstream.name,
                      Where(upstream), upstream.control_user.value_or(""), reason)),
      protocol::sqlstate::kUnableToEstablishConnection);
}

Awaitable<absl::StatusOr<ControlAddresses>> ResolveControlAddresses(const std::string& host,
                                                                    uint16_t port) {
  boost::system::error_code not_numeric;
  const asio::ip::address numeric = asio::ip::make_address(host, not_numeric);
  if (!not_numeric) co_return ControlAddresses{numeric.to_string()};

  struct Pending {
    explicit Pending(const asio::any_io_executor& executor)
        : done(executor, asio::steady_timer::time_point::max()) {}
    asio::steady_timer done;
    std::optional<absl::StatusOr<ControlAddresses>> outcome;
  };
  auto executor = co_await asio::this_coro::executor;
  auto pending = std::make_shared<Pending>(executor);
  asio::co_spawn(executor, LookUp(host, port),
                 [pending](std::exception_ptr failure, absl::StatusOr<ControlAddresses> addresses) {
                   pending->outcome =
                       failure ? absl::InternalError("host name lookup failed") : std::move(addresses);
                   pending->done.cancel();
                 });
  if (!pending->outcome) co_await pending->done.async_wait(kUseTuple);
  if (!pending->outcome) co_return absl::CancelledError("host name lookup abandoned");
  co_return std::move(*pending->outcome);
}

pq::Conn StartControlConnection(const config::UpstreamConfig& upstream,
                                const ControlAddresses& addresses) {
  std::vector<std::pair<const char*, std::string>> settings;
  if (addresses.empty()) {
    settings.emplace_back("host", upstream.host);
  } else {
    // One host entry per address: libpq pairs the two lists, keeps the name
    // for the passfile and for TLS, and tries the addresses in turn.
    std::string hosts;
    std::string hostaddrs;
    for (const std::string& address : addresses) {
      if (!hosts.empty()) {
        hosts += ',';
        hostaddrs += ',';
      }
      hosts += upstream.host;
      hostaddrs += address;
    }
    settings.emplace_back("host", std::move(hosts));
    settings.emplace_back("hostaddr", std::move(hostaddrs));
  }
  settings.emplace_back("port", std::to_string(upstream.port));
  settings.emplace_back("user", upstream.control_user.value_or(""));
  if (upstream.control_password) settings.emplace_back("password", *upstream.control_password);
  if (upstream.control_passfile) settings.emplace_back("passfile", *upstream.control_passfile);
  settings.emplace_back("dbname", upstream.control_dbname);
  // The same TLS as the sessions' server leg; libpq's sslmode names are the
  // ones server_tls_sslmode takes.
  const config::ServerTlsSettings& tls = upstream.tls;
  settings.emplace_back("sslmode", std::string(config::Name(tls.mode)));
  if (tls.ca_file) settings.emplace_back("sslrootcert", *tls.ca_file);
  if (tls.cert_file) settings.emplace_back("sslcert", *tls.cert_file);
  if (tls.key_file) settings.emplace_back("sslkey", *tls.key_file);
  settings.emplace_back("application_name", "pgvalve control");
  settings.emplace_back("client_encoding", "UTF8");
  // libpq enforces this only in its blocking connect, and in whole seconds;
  // what bounds this handshake is the timer Connect() races it against.
  // Passed anyway, so that the connection's parameters (PQconninfo) state
  // the configured limit.
  const auto seconds = (upstream.connect_timeout.count() + 999) / 1000;
  settings.emplace_back("connect_timeout", std::to_string(std::max<int64_t>(seconds, 1)));

  std::vector<const char*> keywords;
  std::vector<const char*> values;
  for (const auto& [keyword, value] : settings) {
    keywords.push_back(keyword);
    values.push_back(value.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  return pq::Conn(PQconnectStartParams(keywords.data(), values.data(), /*expand_dbname=*/0));
}

}  // namespace pgvalve::upstream
