#include "config/validate.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/config_error.h"
#include "config/etcd_endpoint.h"
#include "config/scram_verifier.h"
#include "config/string_views.h"
#include "config/value_text.h"

namespace pgvalve::config {
namespace {

// The rule helpers shared by every section; the first failure is kept and
// reported.
class Checker {
 public:
  explicit Checker(std::string_view source) : errors_(source) {}

  const absl::Status& status() const { return errors_.status(); }
  void Fail(std::string_view path, std::string_view what) {
    errors_.Fail(path, what);
  }

  void Range(std::string_view path, IntegerRange range, int64_t value) {
    if (!range.Contains(value)) Fail(path, RangeError(range, value));
  }

  void Timeout(std::string_view path, Duration value) {
    if (value.count() <= 0) {
      Fail(path, absl::StrCat("must be positive, got ", FormatDuration(value)));
    } else if (value > kMaxDuration) {
      Fail(path, absl::StrCat("must be at most ", FormatDuration(kMaxDuration),
                              ", got ", FormatDuration(value)));
    }
  }

  void NonEmpty(std::string_view path, std::string_view value) {
    if (value.empty()) Fail(path, "must not be empty");
  }

  void Host(std::string_view path, std::string_view host, HostKind kind) {
    if (absl::Status valid = CheckHost(host, kind); !valid.ok()) {
      Fail(path, StdView(valid.message()));
    }
  }

  // `seen` spans proxy and admin: sharing an address would make the second
  // bind fail at start-up, and saying so here is clearer than EADDRINUSE.
  void ListenList(std::string_view path, const std::vector<ListenAddress>& list,
                  std::set<std::string>& seen) {
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string item = IndexKey(path, i);
      Host(item, list[i].host, HostKind::kListen);
      Range(item, kPortRange, list[i].port);
      if (!seen.insert(list[i].ToString()).second) {
        Fail(item,
             absl::StrCat(list[i].ToString(), " is listed more than once"));
      }
    }
  }

 private:
  FirstError errors_;
};

// Files are only named here; they are read (and their errors reported) when
// the TLS contexts are built, at start-up and on every reload.
void CheckClientTls(Checker& check, std::string_view section, const ClientTlsSettings& tls) {
  const std::string mode_key = JoinKey(section, "client_tls_sslmode");
  if (tls.cert_file.has_value() != tls.key_file.has_value()) {
    check.Fail(JoinKey(section, tls.cert_file ? "client_tls_key_file" : "client_tls_cert_file"),
               "must be set together with the other of client_tls_cert_file and client_tls_key_file");
  }
  if (tls.enabled() && !tls.cert_file) {
    check.Fail(mode_key, absl::StrCat("is ", AbslView(Name(tls.mode)),
                                      " but no certificate is set; set client_tls_cert_file and "
                                      "client_tls_key_file, or client_tls_sslmode = \"disable\""));
  }
  if ((tls.mode == ClientTlsMode::kVerifyCa || tls.mode == ClientTlsMode::kVerifyFull) && !tls.ca_file) {
    check.Fail(mode_key, absl::StrCat("is ", AbslView(Name(tls.mode)),
                                      " but client_tls_ca_file is not set: client certificates need a CA "
                                      "to be verified against"));
  }
  for (const auto& [key, file] : {std::pair{"client_tls_cert_file", &tls.cert_file},
                                  std::pair{"client_tls_key_file", &tls.key_file},
                                  std::pair{"client_tls_ca_file", &tls.ca_file}}) {
    if (*file) check.NonEmpty(JoinKey(section, key), **file);
  }
  check.NonEmpty(JoinKey(section, "client_tls_ciphers"), tls.ciphers);
  check.NonEmpty(JoinKey(section, "client_tls13_ciphers"), tls.tls13_ciphers);
}

void CheckServerTls(Checker& check, std::string_view path, const ServerTlsSettings& tls, bool unix_socket) {
  const std::string mode_key = JoinKey(path, "server_tls_sslmode");
  if (unix_socket && tls.mode >= ServerTlsMode::kRequire) {
    check.Fail(mode_key, absl::StrCat("is ", AbslView(Name(tls.mode)),
                                      " but the upstream is reached by unix socket, which TLS is not used over "
                                      "(as in libpq)"));
  }
  if (tls.cert_file.has_value() != tls.key_file.has_value()) {
    check.Fail(JoinKey(path, tls.cert_file ? "server_tls_key_file" : "server_tls_cert_file"),
               "must be set together with the other of server_tls_cert_file and server_tls_key_file");
  }
  if ((tls.mode == ServerTlsMode::kVerifyCa || tls.mode == ServerTlsMode::kVerifyFull) && !tls.ca_file) {
    check.Fail(mode_key,
               absl::StrCat("is ", AbslView(Name(tls.mode)),
                            " but server_tls_ca_file is not set: the server's certificate needs a CA to be "
                            "verified against"));
  }
  for (const auto& [key, file] : {std::pair{"server_tls_ca_file", &tls.ca_file},
                                  std::pair{"server_tls_cert_file", &tls.cert_file},
                                  std::pair{"server_tls_key_file", &tls.key_file}}) {
    if (*file) check.NonEmpty(JoinKey(path, key), **file);
  }
}

void CheckNames(Checker& check, const std::string& path, const std::vector<std::string>& names) {
  if (names.empty()) check.Fail(path, "must not be empty; [\"*\"] matches every name");
  for (size_t i = 0; i < names.size(); ++i) check.NonEmpty(IndexKey(path, i), names[i]);
}

// `path` is "proxy.rules" or "admin.rules". An empty list would refuse
// every client, which nobody means; leaving it out gives the defaults.
void CheckAccessRules(Checker& check, const std::string& path, const std::vector<AccessRule>& rules) {
  if (rules.empty()) {
    check.Fail(path,
               "must not be empty; leave it out to allow only loopback and the unix socket");
  }
  for (size_t i = 0; i < rules.size(); ++i) {
    const std::string rule_path = IndexKey(path, i);
    const AccessRule& rule = rules[i];
    CheckNames(check, JoinKey(rule_path, "databases"), rule.databases);
    CheckNames(check, JoinKey(rule_path, "users"), rule.users);
    if (rule.sources.empty()) {
      check.Fail(JoinKey(rule_path, "sources"),
                 "must not be empty; leave it out to match every source");
    }
    if (!rule.name) continue;
    // A refusal names its rule; two rules of one name would make that
    // ambiguous.
    check.NonEmpty(JoinKey(rule_path, "name"), *rule.name);
    for (size_t earlier = 0; earlier < i; ++earlier) {
      if (rules[earlier].name == rule.name) {
        check.Fail(JoinKey(rule_path, "name"), absl::StrCat(Quoted(*rule.name), " is already used by ",
                                                            IndexKey(path, earlier)));
      }
    }
  }
}

void CheckProxy(Checker& check, const ProxySettings& proxy,
                std::set<std::string>& addresses) {
  if (proxy.listen.empty() && !proxy.unix_socket_dir) {
    check.Fail("proxy.listen",
               "no address to listen on; list one or set "
               "proxy.unix_socket_dir");
  }
  check.ListenList("proxy.listen", proxy.listen, addresses);
  if (proxy.unix_socket_dir) {
    check.NonEmpty("proxy.unix_socket_dir", *proxy.unix_socket_dir);
  }
  check.Range("proxy.max_client_connections", kMaxClientConnectionsRange,
              proxy.max_client_connections);
  check.Range("proxy.workers", kWorkersRange, proxy.workers);
  check.Range("proxy.max_message_size", kMaxMessageSizeRange,
              proxy.max_message_size);
  check.Timeout("proxy.startup_timeout", proxy.startup_timeout);
  check.Timeout("proxy.hold_timeout", proxy.hold_timeout);
  check.Timeout("proxy.terminate_wait", proxy.terminate_wait);
  check.Timeout("proxy.shutdown_timeout", proxy.shutdown_timeout);
  check.Range("proxy.max_startup_connections", kMaxStartupConnectionsRange,
              proxy.max_startup_connections);
  check.Range("proxy.max_startup_connections_per_address",
              kMaxStartupConnectionsRange,
              proxy.max_startup_connections_per_address);
  CheckClientTls(check, "proxy", proxy.tls);
  CheckAccessRules(check, "proxy.rules", proxy.rules);
}

void CheckAdminUser(Checker& check, const std::vector<AdminUser>& users,
                    size_t index) {
  const std::string path = IndexKey("admin.users", index);
  const AdminUser& user = users[index];
  check.NonEmpty(JoinKey(path, "name"), user.name);
  check.NonEmpty(JoinKey(path, "password"), user.password);
  if (LooksLikeScramVerifier(user.password)) {
    if (auto verifier = ParseScramVerifier(user.password); !verifier.ok()) {
      check.Fail(JoinKey(path, "password"),
                 StdView(verifier.status().message()));
    }
  }
  for (size_t earlier = 0; earlier < index; ++earlier) {
    if (users[earlier].name == user.name) {
      check.Fail(JoinKey(path, "name"),
                 absl::StrCat(Quoted(user.name), " is already used by ",
                              IndexKey("admin.users", earlier)));
    }
  }
}

void CheckAdmin(Checker& check, const AdminSettings& admin,
                std::set<std::string>& addresses) {
  check.ListenList("admin.listen", admin.listen, addresses);
  if (admin.unix_socket_dir) {
    check.NonEmpty("admin.unix_socket_dir", *admin.unix_socket_dir);
  }
  if (admin.state_file) check.NonEmpty("admin.state_file", *admin.state_file);
  check.Range("admin.query_text_length", kQueryTextLengthRange, admin.query_text_length);
  for (size_t i = 0; i < admin.users.size(); ++i) {
    CheckAdminUser(check, admin.users, i);
  }
  CheckClientTls(check, "admin", admin.tls);
  CheckAccessRules(check, "admin.rules", admin.rules);
}

void CheckUpstream(Checker& check, const std::string& path,
                   const UpstreamConfig& upstream) {
  check.Host(JoinKey(path, "host"), upstream.host, HostKind::kUpstream);
  check.Range(JoinKey(path, "port"), kPortRange, upstream.port);
  check.Timeout(JoinKey(path, "connect_timeout"), upstream.connect_timeout);
  if (upstream.control_password && upstream.control_passfile) {
    check.Fail(JoinKey(path, "control_passfile"),
               "set together with control_password; use only one");
  }
  if (!upstream.control_user) {
    if (upstream.control_password) {
      check.Fail(JoinKey(path, "control_password"), "set without control_user");
    }
    if (upstream.control_passfile) {
      check.Fail(JoinKey(path, "control_passfile"), "set without control_user");
    }
  } else {
    check.NonEmpty(JoinKey(path, "control_user"), *upstream.control_user);
  }
  if (upstream.control_passfile) {
    check.NonEmpty(JoinKey(path, "control_passfile"),
                   *upstream.control_passfile);
  }
  check.NonEmpty(JoinKey(path, "control_dbname"), upstream.control_dbname);
  CheckServerTls(check, path, upstream.tls, upstream.host.starts_with('/'));
}

// 0 turns a limit off; a grace of 0 would terminate what the cancel had
// no time to stop, so it must be positive.
void CheckLimits(Checker& check, const std::string& path,
                 const LimitSettings& limits) {
  for (Limit limit : kAllLimits) {
    const std::optional<LimitSetting>& setting = limits.Get(limit);
    if (!setting) continue;
    const std::string key = JoinKey(path, LimitName(limit));
    if (limit == Limit::kQueryTimeoutGrace) {
      check.Timeout(key, setting->value);
    } else if (setting->value.count() < 0) {
      check.Fail(key, absl::StrCat("must not be negative (0 turns it off), got ",
                                   FormatDuration(setting->value)));
    } else if (setting->value > kMaxDuration) {
      check.Fail(key, absl::StrCat("must be at most ", FormatDuration(kMaxDuration),
                                   ", got ", FormatDuration(setting->value)));
    }
    const std::string except_key =
        JoinKey(path, absl::StrCat(AbslView(LimitName(limit)), "_except_users"));
    for (size_t i = 0; i < setting->except_users.size(); ++i) {
      check.NonEmpty(IndexKey(except_key, i), setting->except_users[i]);
    }
  }
}

void CheckEtcdTls(Checker& check, const FleetSettings& fleet) {
  size_t https = 0;
  for (size_t i = 0; i < fleet.etcd_endpoints.size(); ++i) {
    absl::StatusOr<EtcdEndpoint> endpoint = ParseEtcdEndpoint(fleet.etcd_endpoints[i]);
    if (!endpoint.ok()) {
      check.Fail(absl::StrCat("fleet.etcd_endpoints[", i, "]"), std::string(endpoint.status().message()));
    } else if (endpoint->tls) {
      ++https;
    }
  }
  // The members of one etcd cluster serve their clients one way; a mix is
  // a mistake in the list, and a plain endpoint would send the token and
  // the state in the clear beside TLS ones.
  if (https != 0 && https != fleet.etcd_endpoints.size()) {
    check.Fail("fleet.etcd_endpoints", "mixes http and https endpoints; etcd serves its clients one way");
  }
  if (fleet.etcd_cert_file.has_value() != fleet.etcd_key_file.has_value()) {
    check.Fail(fleet.etcd_cert_file ? "fleet.etcd_key_file" : "fleet.etcd_cert_file",
               "must be set together with the other of etcd_cert_file and etcd_key_file");
  }
  for (const auto& [key, file] : {std::pair{"fleet.etcd_ca_file", &fleet.etcd_ca_file},
                                  std::pair{"fleet.etcd_cert_file", &fleet.etcd_cert_file},
                                  std::pair{"fleet.etcd_key_file", &fleet.etcd_key_file}}) {
    if (!*file) continue;
    check.NonEmpty(key, **file);
    // Set for nothing: the operator believes etcd is reached over TLS.
    if (https == 0 && !fleet.etcd_endpoints.empty()) {
      check.Fail(key, "is set but no etcd endpoint is https://");
    }
  }
}

void CheckFleet(Checker& check, const FleetSettings& fleet) {
  CheckEtcdTls(check, fleet);
  if (!fleet.key_prefix.starts_with('/') || fleet.key_prefix.size() < 2 || fleet.key_prefix.ends_with('/')) {
    check.Fail("fleet.key_prefix", absl::StrCat("must start with / and not end with it, got ",
                                                Quoted(fleet.key_prefix)));
  }
  if (fleet.instance_id) {
    const std::string& id = *fleet.instance_id;
    const bool plain = !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':';
    });
    if (!plain) {
      check.Fail("fleet.instance_id",
                 absl::StrCat("must be 1 to 128 letters, digits, '.', '-', '_' or ':', got ", Quoted(id)));
    }
  }
  // etcd raises a shorter TTL to its own minimum (2 s with its defaults).
  if (fleet.lease_ttl < std::chrono::seconds(2) || fleet.lease_ttl > std::chrono::hours(1)) {
    check.Fail("fleet.lease_ttl", "must be between 2s and 1h");
  }
  if (fleet.etcd_user.has_value() != fleet.etcd_password.has_value()) {
    check.Fail(fleet.etcd_user ? "fleet.etcd_password" : "fleet.etcd_user",
               "etcd_user and etcd_password go together");
  }
  if (fleet.ack_timeout < std::chrono::milliseconds(100) || fleet.ack_timeout > std::chrono::minutes(1)) {
    check.Fail("fleet.ack_timeout", "must be between 100ms and 1min");
  }
  if (fleet.advertise_address) {
    absl::StatusOr<ListenAddress> address = ParseListenAddress(*fleet.advertise_address);
    if (!address.ok() || address->port == 0 || address->host == "0.0.0.0" || address->host == "::") {
      check.Fail("fleet.advertise_address",
                 absl::StrCat("must be HOST:PORT that other instances can connect to, got ",
                              Quoted(*fleet.advertise_address)));
    }
  }
}

void CheckRoutes(Checker& check, Config& config) {
  if (config.databases.empty()) {
    check.Fail("databases", "no route defined; add [databases.\"*\"]");
    return;
  }
  std::vector<std::string> known;
  for (const auto& [name, upstream] : config.upstreams) known.push_back(name);
  const std::string defined =
      known.empty() ? "no upstream is defined; add [upstreams.NAME]"
                    : absl::StrCat("defined: ", absl::StrJoin(known, ", "));
  for (auto& [name, route] : config.databases) {
    const std::string path = JoinKey("databases", name);
    if (name.empty()) check.Fail(path, "database name must not be empty");
    route.name = name;
    if (!config.upstreams.contains(route.upstream)) {
      check.Fail(JoinKey(path, "upstream"),
                 absl::StrCat("unknown upstream ", Quoted(route.upstream), "; ",
                              defined));
    }
    CheckLimits(check, path, route.limits);
  }
}

}  // namespace

std::string RangeError(IntegerRange range, int64_t got) {
  return absl::StrCat("must be an integer between ", range.min, " and ",
                      range.max, ", got ", got);
}

absl::Status Validate(Config& config, std::string_view source) {
  Checker check(source);
  if (!IsLogLevel(config.log_level)) {
    check.Fail("log_level",
               absl::StrCat("must be one of ", absl::StrJoin(kLogLevels, "|"),
                            ", got ", Quoted(config.log_level)));
  }
  if (config.log_format != "text" && config.log_format != "json") {
    check.Fail("log_format", absl::StrCat("must be text or json, got ", Quoted(config.log_format)));
  }
  std::set<std::string> addresses;
  CheckProxy(check, config.proxy, addresses);
  CheckAdmin(check, config.admin, addresses);
  check.ListenList("http.listen", config.http.listen, addresses);
  if (config.http.tls && !config.admin.tls.enabled()) {
    check.Fail("http.tls", "needs the admin console's TLS: set [admin] client_tls_sslmode, "
                           "client_tls_cert_file and client_tls_key_file");
  }
  for (auto& [name, upstream] : config.upstreams) {
    const std::string path = JoinKey("upstreams", name);
    if (name.empty()) check.Fail(path, "upstream name must not be empty");
    upstream.name = name;
    CheckUpstream(check, path, upstream);
  }
  CheckRoutes(check, config);
  CheckFleet(check, config.fleet);
  return check.status();
}

}  // namespace pgvalve::config
