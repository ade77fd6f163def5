#include "config/config_file.h"

#include <array>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <toml.hpp>

#include "absl/strings/str_cat.h"
#include "config/access_rules_reader.h"
#include "config/config_error.h"
#include "config/string_views.h"
#include "config/toml_reader.h"
#include "config/toml_utf8.h"
#include "config/validate.h"

namespace pgvalve::config {
namespace {

constexpr std::array<std::string_view, 7> kClientTlsKeys = {
    "client_tls_sslmode", "client_tls_cert_file", "client_tls_key_file", "client_tls_ca_file",
    "client_tls_protocols", "client_tls_ciphers", "client_tls13_ciphers"};

std::vector<std::string_view> WithClientTlsKeys(std::initializer_list<std::string_view> keys) {
  std::vector<std::string_view> all(keys);
  all.insert(all.end(), kClientTlsKeys.begin(), kClientTlsKeys.end());
  return all;
}

// client_tls_sslmode and server_tls_sslmode share their six names.
template <typename Mode>
void ReadTlsMode(TomlTable& table, std::string_view key, std::optional<Mode> (*parse)(std::string_view),
                 Mode& out) {
  if (table.Get(key) == nullptr) return;
  std::string text;
  table.String(key, text);
  if (std::optional<Mode> mode = parse(text)) {
    out = *mode;
  } else {
    table.Fail(key, absl::StrCat("must be disable, allow, prefer, require, verify-ca or verify-full, got ",
                                 Quoted(text)));
  }
}

void ReadClientTls(TomlTable& table, ClientTlsSettings& tls) {
  ReadTlsMode(table, "client_tls_sslmode", ParseClientTlsMode, tls.mode);
  table.String("client_tls_cert_file", tls.cert_file);
  table.String("client_tls_key_file", tls.key_file);
  table.String("client_tls_ca_file", tls.ca_file);
  if (table.Get("client_tls_protocols") != nullptr) {
    std::string text;
    table.String("client_tls_protocols", text);
    std::string error;
    if (std::optional<TlsVersionRange> range = ParseTlsProtocols(text, error)) {
      tls.min_version = range->min;
      tls.max_version = range->max;
    } else {
      table.Fail("client_tls_protocols", error);
    }
  }
  table.String("client_tls_ciphers", tls.ciphers);
  table.String("client_tls13_ciphers", tls.tls13_ciphers);
}

void ReadServerTls(TomlTable& table, ServerTlsSettings& tls) {
  ReadTlsMode(table, "server_tls_sslmode", ParseServerTlsMode, tls.mode);
  table.String("server_tls_ca_file", tls.ca_file);
  table.String("server_tls_cert_file", tls.cert_file);
  table.String("server_tls_key_file", tls.key_file);
}

void ReadProxy(const toml::value* value, FirstError& errors,
               ProxySettings& proxy) {
  TomlTable table(value, "proxy", errors,
                  WithClientTlsKeys({"listen", "unix_socket_dir", "max_client_connections", "workers",
                                     "startup_timeout", "max_message_size", "hold_timeout",
                                     "terminate_wait", "max_startup_connections",
                                     "max_startup_connections_per_address", "shutdown_timeout", "rules"}));
  table.Addresses("listen", proxy.listen);
  table.String("unix_socket_dir", proxy.unix_socket_dir);
  table.Integer("max_client_connections", kMaxClientConnectionsRange,
                proxy.max_client_connections);
  table.Integer("workers", kWorkersRange, proxy.workers);
  table.Timeout("startup_timeout", proxy.startup_timeout);
  table.Integer("max_message_size", kMaxMessageSizeRange,
                proxy.max_message_size);
  table.Timeout("hold_timeout", proxy.hold_timeout);
  table.Timeout("terminate_wait", proxy.terminate_wait);
  table.Integer("max_startup_connections", kMaxStartupConnectionsRange,
                proxy.max_startup_connections);
  table.Integer("max_startup_connections_per_address",
                kMaxStartupConnectionsRange,
                proxy.max_startup_connections_per_address);
  table.Timeout("shutdown_timeout", proxy.shutdown_timeout);
  ReadClientTls(table, proxy.tls);
  ReadAccessRules(table, errors, proxy.rules);
}

void ReadAdmin(const toml::value* value, FirstError& errors,
               AdminSettings& admin) {
  TomlTable table(value, "admin", errors,
                  WithClientTlsKeys({"listen", "unix_socket_dir", "state_file", "users", "query_text_length",
                                     "rules"}));
  table.Addresses("listen", admin.listen);
  table.String("unix_socket_dir", admin.unix_socket_dir);
  table.String("state_file", admin.state_file);
  table.Integer("query_text_length", kQueryTextLengthRange, admin.query_text_length);
  ReadClientTls(table, admin.tls);
  const std::vector<const toml::value*> users = table.TableArray("users");
  for (size_t i = 0; i < users.size(); ++i) {
    TomlTable entry(users[i], IndexKey(table.PathOf("users"), i), errors,
                    {"name", "password", "role"});
    AdminUser user;
    entry.Require("name");
    entry.Require("password");
    entry.String("name", user.name);
    entry.String("password", user.password);
    entry.Role("role", user.role);
    admin.users.push_back(std::move(user));
  }
  ReadAccessRules(table, errors, admin.rules);
}

void ReadFleet(const toml::value* value, FirstError& errors, FleetSettings& fleet) {
  TomlTable table(value, "fleet", errors,
                  {"etcd_endpoints", "etcd_user", "etcd_password", "etcd_ca_file", "etcd_cert_file",
                   "etcd_key_file", "key_prefix", "instance_id", "lease_ttl", "ack_timeout", "advertise_address"});
  table.StringList("etcd_endpoints", fleet.etcd_endpoints);
  table.String("etcd_user", fleet.etcd_user);
  table.String("etcd_password", fleet.etcd_password);
  table.String("etcd_ca_file", fleet.etcd_ca_file);
  table.String("etcd_cert_file", fleet.etcd_cert_file);
  table.String("etcd_key_file", fleet.etcd_key_file);
  table.String("key_prefix", fleet.key_prefix);
  table.String("instance_id", fleet.instance_id);
  table.Timeout("lease_ttl", fleet.lease_ttl);
  table.Timeout("ack_timeout", fleet.ack_timeout);
  table.String("advertise_address", fleet.advertise_address);
}

void ReadHttp(const toml::value* value, FirstError& errors, HttpSettings& http) {
  TomlTable table(value, "http", errors, {"listen", "metrics_auth", "tls"});
  table.Addresses("listen", http.listen);
  table.Bool("metrics_auth", http.metrics_auth);
  table.Bool("tls", http.tls);
}

void ReadUpstreams(const toml::value* value, FirstError& errors,
                   std::map<std::string, UpstreamConfig>& upstreams) {
  for (const auto& [name, entry_value] :
       NamedEntries(value, "upstreams", errors)) {
    TomlTable entry(entry_value, JoinKey("upstreams", name), errors,
                    {"host", "port", "connect_timeout", "control_user",
                     "control_password", "control_passfile", "control_dbname",
                     "server_tls_sslmode", "server_tls_ca_file", "server_tls_cert_file",
                     "server_tls_key_file"});
    UpstreamConfig upstream;
    upstream.name = name;
    entry.String("host", upstream.host);
    entry.Integer("port", kPortRange, upstream.port);
    entry.Timeout("connect_timeout", upstream.connect_timeout);
    entry.String("control_user", upstream.control_user);
    entry.String("control_password", upstream.control_password);
    entry.String("control_passfile", upstream.control_passfile);
    entry.String("control_dbname", upstream.control_dbname);
    ReadServerTls(entry, upstream.tls);
    upstreams[name] = std::move(upstream);
  }
}

// query_timeout = "10min", query_timeout_except_users = ["replicator"], ...
// An exception list belongs to the limit in the same table: without it
// there is nothing for it to except from.
void ReadLimits(TomlTable& entry, LimitSettings& limits) {
  for (Limit limit : kAllLimits) {
    const std::string name(LimitName(limit));
    if (entry.Get(name) != nullptr) {
      LimitSetting setting;
      entry.Timeout(name, setting.value);
      limits.Set(limit, std::move(setting));
    }
    if (!TakesExceptions(limit)) continue;
    const std::string except_key = absl::StrCat(name, "_except_users");
    if (entry.Get(except_key) == nullptr) continue;
    if (!limits.Get(limit)) {
      entry.Fail(except_key,
                 absl::StrCat("set without ", name,
                              " in the same table; an exception list goes "
                              "with its limit"));
      continue;
    }
    LimitSetting setting = *limits.Get(limit);
    entry.StringList(except_key, setting.except_users);
    limits.Set(limit, std::move(setting));
  }
}

void ReadDatabases(const toml::value* value, FirstError& errors,
                   std::map<std::string, DatabaseRoute>& databases) {
  for (const auto& [name, entry_value] :
       NamedEntries(value, "databases", errors)) {
    TomlTable entry(entry_value, JoinKey("databases", name), errors,
                    {"upstream", "query_timeout", "query_timeout_except_users",
                     "query_timeout_grace", "idle_in_transaction_timeout",
                     "idle_in_transaction_timeout_except_users",
                     "client_idle_timeout", "client_idle_timeout_except_users"});
    DatabaseRoute route;
    route.name = name;
    entry.Require("upstream");
    entry.String("upstream", route.upstream);
    ReadLimits(entry, route.limits);
    databases[name] = std::move(route);
  }
}

// toml11 reports syntax errors by exception with a caret diagram; keep its
// text (it shows the offending line) and put "file:line" in front. The
// text's UTF-8 is checked first, as toml11 must not see it otherwise.
absl::StatusOr<toml::value> ParseToml(std::string_view text,
                                      const std::string& source) {
  if (absl::Status utf8 = CheckTomlUtf8(text, source); !utf8.ok()) return utf8;
  std::istringstream stream{std::string(text)};
  try {
    return toml::parse(stream, source);
  } catch (const toml::exception& e) {
    constexpr std::string_view kNoise = "[error] ";
    std::string_view what = e.what();
    if (what.starts_with(kNoise)) what.remove_prefix(kNoise.size());
    return absl::InvalidArgumentError(absl::StrCat(
        source, ":", e.location().line(), ": syntax error: ", AbslView(what)));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": cannot parse: ", e.what()));
  }
}

// iostreams need not set errno; 0 would make ErrnoToStatus return OK.
absl::Status FileError(int error, const std::string& path,
                       std::string_view what) {
  const std::string message = absl::StrCat(path, ": ", AbslView(what));
  if (error == 0) return absl::UnknownError(message);
  return absl::ErrnoToStatus(error, message);
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": is a directory, not a configuration file"));
  }
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) return FileError(errno, path, "cannot open");
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return FileError(errno, path, "cannot read");
  return contents.str();
}

}  // namespace

absl::StatusOr<Config> ReadConfigText(std::string_view toml_text,
                                      std::string_view source_name) {
  const std::string source(source_name);
  absl::StatusOr<toml::value> document = ParseToml(toml_text, source);
  if (!document.ok()) return document.status();

  Config config;
  config.source = source;
  FirstError errors(source);
  TomlTable root(&*document, "", errors,
                 {"log_level", "log_format", "proxy", "admin", "http", "fleet", "upstreams", "databases"});
  root.String("log_level", config.log_level);
  root.String("log_format", config.log_format);
  ReadProxy(root.Get("proxy"), errors, config.proxy);
  ReadAdmin(root.Get("admin"), errors, config.admin);
  ReadHttp(root.Get("http"), errors, config.http);
  ReadFleet(root.Get("fleet"), errors, config.fleet);
  ReadUpstreams(root.Get("upstreams"), errors, config.upstreams);
  ReadDatabases(root.Get("databases"), errors, config.databases);
  if (errors.failed()) return errors.status();
  return config;
}

absl::StatusOr<Config> ReadConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  return ReadConfigText(*text, path);
}

absl::StatusOr<Config> ParseConfigText(std::string_view toml_text,
                                       std::string_view source_name) {
  absl::StatusOr<Config> config = ReadConfigText(toml_text, source_name);
  if (!config.ok()) return config.status();
  if (absl::Status valid = Validate(*config, source_name); !valid.ok()) {
    return valid;
  }
  return config;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  return ParseConfigText(*text, path);
}

}  // namespace pgvalve::config
