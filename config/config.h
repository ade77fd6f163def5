#pragma once
// The whole of pgvalve's configuration as immutable data. A reload builds a
// new Config and swaps it in; runtime state (disabled, paused, draining
// databases) lives elsewhere, in the proxy's registry.
//
// A Config is built by LoadConfigFile / ParseConfigText (config_file.h) or by
// BuildConfig (command_line.h); both end in Validate (validate.h), so any
// Config handed to the rest of pgvalve has passed the same checks.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/access_rule.h"
#include "config/limits.h"
#include "config/tls_settings.h"

namespace pgvalve::config {

using Duration = std::chrono::milliseconds;

struct ListenAddress {
  std::string host;  // numeric address or host name
  uint16_t port = 0;
  std::string ToString() const;  // "host:port", IPv6 as "[::1]:port"

  bool operator==(const ListenAddress&) const = default;
};

struct UpstreamConfig {
  std::string name;
  // A host starting with '/' is a unix-socket directory, as in libpq.
  std::string host = "127.0.0.1";
  uint16_t port = 5432;
  Duration connect_timeout{5000};
  // Credentials of the control connection (admin console: TERMINATE, SHOW
  // BACKENDS, DRAIN). Key names are fixed so operators' configs keep working.
  // At most one of control_password and control_passfile is set, and
  // neither without control_user.
  std::optional<std::string> control_user;
  std::optional<std::string> control_password;
  std::optional<std::string> control_passfile;
  std::string control_dbname = "postgres";
  // The server leg of every session to this upstream, and its control
  // connection.
  ServerTlsSettings tls;
};

struct DatabaseRoute {
  std::string name;      // "*" is the route for every database without its own
  std::string upstream;  // key into Config::upstreams
  // For "*": every database without a value of its own. A runtime SET
  // (admin console) wins over these; see admin/limits/effective_limits.h.
  LimitSettings limits;
};

enum class AdminRole { kAdmin, kMonitor };

struct AdminUser {
  std::string name;
  std::string password;  // plain text or a SCRAM-SHA-256 verifier
  AdminRole role = AdminRole::kAdmin;
};

struct ProxySettings {
  // May be empty only if unix_socket_dir is set.
  std::vector<ListenAddress> listen{{"127.0.0.1", 6432}};
  std::optional<std::string> unix_socket_dir;
  uint32_t max_client_connections = 1000;
  // Connections from accept until their startup packet is handled, in all
  // and from one client address (unix-socket clients are not counted per
  // address). A connection over either bound is closed at once, before it
  // costs more than its socket: silent connections must not use up the
  // file descriptors that admitted sessions and the admin console need.
  // The per-address default is the whole budget: one application server
  // opening its pool at once (hundreds of connections from one address) is
  // ordinary; lower it where many untrusted sources share the proxy.
  uint32_t max_startup_connections = 256;
  uint32_t max_startup_connections_per_address = 256;
  uint32_t workers = 0;  // 0: one per core
  Duration startup_timeout{30000};
  // Largest message a client may send (client to server only); a larger
  // one ends that session with FATAL 08P01 before it reaches the server.
  // The server's messages are not limited by it: PostgreSQL bounds its own
  // results, and pgvalve relays them at any size the protocol can frame.
  uint32_t max_message_size = 1u << 30;
  Duration hold_timeout{60000};
  Duration terminate_wait{5000};
  // How long a smart shutdown (SIGTERM, SHUTDOWN) waits for clients to
  // leave before it closes the rest at their transaction boundary and then,
  // terminate_wait later, at once.
  Duration shutdown_timeout{60000};
  ClientTlsSettings tls;
  // Who may open a session; the first match decides, no match refuses.
  std::vector<AccessRule> rules = DefaultAccessRules();
};

struct AdminSettings {
  // Empty, with no unix_socket_dir, means the admin console is not served.
  std::vector<ListenAddress> listen{{"127.0.0.1", 6433}};
  std::optional<std::string> unix_socket_dir;
  std::vector<AdminUser> users;  // names are unique
  std::optional<std::string> state_file;
  // How much of a query's text the DRY RUN and results of CANCEL,
  // TERMINATE and KILL show (read from pg_stat_activity).
  uint32_t query_text_length = 60;
  // The admin console's own TLS, with the same keys as [proxy].
  ClientTlsSettings tls;
  // Who may log in to the admin console, as ProxySettings::rules; their
  // `databases` see "pgvalve", their `users` the admin users.
  std::vector<AccessRule> rules = DefaultAccessRules();
};

// The HTTP endpoint: /metrics for Prometheus, /healthz and /readyz for
// orchestrators and load balancers.
struct HttpSettings {
  // Empty means no HTTP endpoint.
  std::vector<ListenAddress> listen;
  // False serves GET /metrics without credentials, as many operators
  // scrape on loopback; every other authenticated path still asks.
  bool metrics_auth = true;
  // HTTPS instead of HTTP, with the admin console's TLS settings ([admin]
  // client_tls_*: certificate, key, protocols, ciphers; with verify-ca or
  // verify-full, a client certificate that client_tls_ca_file verifies).
  // The endpoint serves the same credentials the console checks, so it
  // gets the console's protection.
  bool tls = false;
};

// Several instances acting as one through etcd: shared admin state, jobs
// that span the fleet, cancels routed to the instance holding the session.
struct FleetSettings {
  // etcd's client URLs, "http://HOST:PORT" or "https://HOST:PORT" (all
  // one or all the other); empty means no fleet.
  std::vector<std::string> etcd_endpoints;
  // An etcd user, when etcd has authentication on; both or neither.
  std::optional<std::string> etcd_user;
  std::optional<std::string> etcd_password;
  // For https endpoints: etcd's certificate must chain to etcd_ca_file
  // (unset: the system's CAs) and name the endpoint's host. etcd_cert_file
  // and etcd_key_file (both or neither) are pgvalve's certificate, for an
  // etcd that asks for one (--client-cert-auth).
  std::optional<std::string> etcd_ca_file;
  std::optional<std::string> etcd_cert_file;
  std::optional<std::string> etcd_key_file;
  // Every key pgvalve writes starts with it; several fleets can share an
  // etcd under different prefixes.
  std::string key_prefix = "/pgvalve";
  // This instance's name in the fleet; unset: "HOST:PORT" of the host's
  // name and the first client listen port.
  std::optional<std::string> instance_id;
  // How long an instance that stopped renewing (killed, partitioned)
  // stays listed.
  Duration lease_ttl{10000};
  // How long a state change waits for every live instance to apply it
  // before it names those that have not.
  Duration ack_timeout{2000};
  // "HOST:PORT" where the other instances reach this one's client
  // listener (cancel requests for its sessions); unset: the first client
  // listen address, with the host's name for a wildcard address.
  std::optional<std::string> advertise_address;

  bool enabled() const { return !etcd_endpoints.empty(); }
};

struct Config {
  ProxySettings proxy;
  AdminSettings admin;
  HttpSettings http;
  FleetSettings fleet;
  // Keyed by name; each entry's `name` equals its key (Validate sees to it).
  std::map<std::string, UpstreamConfig> upstreams;
  std::map<std::string, DatabaseRoute> databases;
  std::string log_level = "info";  // trace|debug|info|warn|error
  // "text", or "json": one object per line (proxy/json_log.h). Read at
  // start only.
  std::string log_format = "text";
  std::string source;              // file it came from, or "<command line>"

  // The route for `database`: its own entry, else "*", else nullptr.
  const UpstreamConfig* UpstreamFor(std::string_view database) const;
};

}  // namespace pgvalve::config
