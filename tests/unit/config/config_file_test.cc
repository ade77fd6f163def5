#include "config/config_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace pgvalve::config {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::string_view kExample = R"toml(
[proxy]
listen = ["127.0.0.1:6432"]
unix_socket_dir = "/tmp"
max_client_connections = 1000

[admin]                      # used by the admin-console issue; parsed and validated now
listen = ["127.0.0.1:6433"]
[[admin.users]]
name = "admin"
password = "change-me"       # plain text or a SCRAM-SHA-256 verifier

[upstreams.blue]
host = "127.0.0.1"
port = 5432

[databases."*"]
upstream = "blue"
)toml";

// The smallest valid file; tests put what they exercise in front of it.
constexpr std::string_view kRoutes = R"toml(
[upstreams.blue]
port = 5432
[databases."*"]
upstream = "blue"
)toml";

std::string ErrorOf(std::string_view text) {
  const absl::StatusOr<Config> config = ParseConfigText(text, "pgvalve.toml");
  if (config.ok()) return "<accepted>";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

std::string ErrorWithRoutes(std::string_view text) {
  return ErrorOf(std::string(text) + std::string(kRoutes));
}

TEST(ConfigFileTest, AcceptsTheDocumentedExample) {
  const absl::StatusOr<Config> config =
      ParseConfigText(kExample, "pgvalve.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, "pgvalve.toml");
  EXPECT_EQ(config->proxy.listen,
            std::vector<ListenAddress>({{"127.0.0.1", 6432}}));
  EXPECT_EQ(config->proxy.unix_socket_dir, "/tmp");
  EXPECT_EQ(config->proxy.max_client_connections, 1000u);
  EXPECT_EQ(config->admin.listen,
            std::vector<ListenAddress>({{"127.0.0.1", 6433}}));
  ASSERT_EQ(config->admin.users.size(), 1u);
  EXPECT_EQ(config->admin.users[0].name, "admin");
  EXPECT_EQ(config->admin.users[0].password, "change-me");
  EXPECT_EQ(config->admin.users[0].role, AdminRole::kAdmin);
  ASSERT_EQ(config->upstreams.size(), 1u);
  const UpstreamConfig& blue = config->upstreams.at("blue");
  EXPECT_EQ(blue.name, "blue");
  EXPECT_EQ(blue.host, "127.0.0.1");
  EXPECT_EQ(blue.port, 5432);
  EXPECT_EQ(blue.connect_timeout, Duration(5000));
  EXPECT_FALSE(blue.control_user.has_value());
  ASSERT_EQ(config->databases.size(), 1u);
  EXPECT_EQ(config->databases.at("*").name, "*");
  EXPECT_EQ(config->UpstreamFor("anything"), &blue);
  EXPECT_EQ(config->log_level, "info");
  EXPECT_EQ(config->proxy.workers, 0u);
  EXPECT_EQ(config->proxy.startup_timeout, Duration(30000));
}

TEST(ConfigFileTest, ReadsEveryKey) {
  const absl::StatusOr<Config> config = ParseConfigText(R"toml(
log_level = "debug"
[proxy]
listen = ["0.0.0.0:7432", "[::1]:7432"]
unix_socket_dir = "/run/pgvalve"
max_client_connections = 50
workers = 4
startup_timeout = "250ms"
max_message_size = 8192
hold_timeout = "2m"
terminate_wait = 1500
max_startup_connections = 40
max_startup_connections_per_address = 4
shutdown_timeout = "10s"
[admin]
listen = []
unix_socket_dir = "/run/pgvalve-admin"
state_file = "/var/lib/pgvalve/state.json"
[[admin.users]]
name = "ops"
password = "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs=:PiPoFgA5WUoziU9lZOGxNIu9egCI1CxKy3PurtWcAJ0="
[[admin.users]]
name = "grafana"
password = "SCRAM-SHA-256-is-not-a-verifier-without-the-dollar"
role = "monitor"
[upstreams.blue]
host = "/var/run/postgresql"
port = 5432
connect_timeout = "1h"
control_user = "postgres"
control_passfile = "/etc/pgvalve/pgpass"
[upstreams.green]
host = "::1"
port = 5433
control_user = "postgres"
control_password = "secret"
control_dbname = "template1"
[databases."*"]
upstream = "blue"
[databases.app]
upstream = "green"
)toml",
                                                        "full.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->log_level, "debug");
  EXPECT_EQ(config->proxy.listen,
            std::vector<ListenAddress>({{"0.0.0.0", 7432}, {"::1", 7432}}));
  EXPECT_EQ(config->proxy.unix_socket_dir, "/run/pgvalve");
  EXPECT_EQ(config->proxy.max_client_connections, 50u);
  EXPECT_EQ(config->proxy.workers, 4u);
  EXPECT_EQ(config->proxy.startup_timeout, Duration(250));
  EXPECT_EQ(config->proxy.max_message_size, 8192u);
  EXPECT_EQ(config->proxy.hold_timeout, Duration(120000));
  EXPECT_EQ(config->proxy.terminate_wait, Duration(1500));
  EXPECT_EQ(config->proxy.max_startup_connections, 40u);
  EXPECT_EQ(config->proxy.max_startup_connections_per_address, 4u);
  EXPECT_EQ(config->proxy.shutdown_timeout, Duration(10000));
  EXPECT_TRUE(config->admin.listen.empty());
  EXPECT_EQ(config->admin.unix_socket_dir, "/run/pgvalve-admin");
  EXPECT_EQ(config->admin.state_file, "/var/lib/pgvalve/state.json");
  ASSERT_EQ(config->admin.users.size(), 2u);
  EXPECT_EQ(config->admin.users[0].role, AdminRole::kAdmin);
  EXPECT_EQ(config->admin.users[1].role, AdminRole::kMonitor);
  const UpstreamConfig& blue = config->upstreams.at("blue");
  EXPECT_EQ(blue.host, "/var/run/postgresql");
  EXPECT_EQ(blue.connect_timeout, Duration(3600000));
  EXPECT_EQ(blue.control_passfile, "/etc/pgvalve/pgpass");
  EXPECT_EQ(blue.control_dbname, "postgres");
  const UpstreamConfig& green = config->upstreams.at("green");
  EXPECT_EQ(green.host, "::1");
  EXPECT_EQ(green.control_password, "secret");
  EXPECT_EQ(green.control_dbname, "template1");
  EXPECT_EQ(config->UpstreamFor("app"), &green);
  EXPECT_EQ(config->UpstreamFor("other"), &blue);
}

TEST(ConfigFileTest, SectionsMayBeLeftOut) {
  const absl::StatusOr<Config> config = ParseConfigText(kRoutes, "min.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->proxy.listen,
            std::vector<ListenAddress>({{"127.0.0.1", 6432}}));
  EXPECT_EQ(config->admin.listen,
            std::vector<ListenAddress>({{"127.0.0.1", 6433}}));
  EXPECT_TRUE(config->admin.users.empty());
  EXPECT_TRUE(config->http.listen.empty()) << "no HTTP endpoint unless asked for";
  EXPECT_TRUE(config->http.metrics_auth);
}

TEST(ConfigFileTest, ReadsTheHttpSection) {
  const absl::StatusOr<Config> config = ParseConfigText(
      "[http]\nlisten = [\"127.0.0.1:9187\", \"[::1]:9187\"]\nmetrics_auth = false\n" + std::string(kRoutes),
      "http.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->http.listen, std::vector<ListenAddress>({{"127.0.0.1", 9187}, {"::1", 9187}}));
  EXPECT_FALSE(config->http.metrics_auth);
  EXPECT_FALSE(config->http.tls);

  const absl::StatusOr<Config> https = ParseConfigText(
      "[admin]\nclient_tls_sslmode = \"require\"\nclient_tls_cert_file = \"c.pem\"\n"
      "client_tls_key_file = \"k.pem\"\n[http]\nlisten = [\"127.0.0.1:9187\"]\ntls = true\n" +
          std::string(kRoutes),
      "https.toml");
  ASSERT_TRUE(https.ok()) << https.status();
  EXPECT_TRUE(https->http.tls);
}

TEST(ConfigFileErrorTest, PortOutOfRange) {
  EXPECT_EQ(ErrorOf("[upstreams.blue]\nport = 70000\n"
                    "[databases.\"*\"]\nupstream = \"blue\"\n"),
            "pgvalve.toml: upstreams.blue.port: must be an integer between 1 "
            "and 65535, got 70000");
  EXPECT_EQ(ErrorOf("[upstreams.blue]\nport = \"5432\"\n"),
            "pgvalve.toml: upstreams.blue.port: must be an integer between 1 "
            "and 65535, got string");
}

TEST(ConfigFileErrorTest, UnknownKeysAreNamed) {
  EXPECT_EQ(ErrorWithRoutes("[proxy]\nlistn = [\"127.0.0.1:6432\"]\n"),
            "pgvalve.toml: proxy.listn: unknown key; did you mean \"listen\"?");
  EXPECT_EQ(ErrorOf("[upstream.blue]\nport = 5432\n"),
            "pgvalve.toml: upstream: unknown key; did you mean \"upstreams\"?");
  EXPECT_EQ(ErrorOf("colour = \"blue\"\n"),
            "pgvalve.toml: colour: unknown key");
  EXPECT_EQ(ErrorOf("[databases.\"*\"]\nupstream = \"blue\"\nuser = \"x\"\n"),
            "pgvalve.toml: databases.\"*\".user: unknown key");
  EXPECT_EQ(ErrorWithRoutes("[[admin.users]]\nname = \"a\"\npassword = "
                            "\"b\"\nrole = \"monitor\"\nrol = \"admin\"\n"),
            "pgvalve.toml: admin.users[0].rol: unknown key; did you mean "
            "\"role\"?");
}

TEST(ConfigFileErrorTest, UnknownUpstreamReference) {
  EXPECT_EQ(ErrorWithRoutes("[databases.app]\nupstream = \"green\"\n"),
            "pgvalve.toml: databases.app.upstream: unknown upstream "
            "\"green\"; defined: blue");
  EXPECT_EQ(ErrorOf("[databases.\"*\"]\nupstream = \"blue\"\n"),
            "pgvalve.toml: databases.\"*\".upstream: unknown upstream "
            "\"blue\"; no upstream is defined; add [upstreams.NAME]");
}

TEST(ConfigFileErrorTest, NoRoute) {
  EXPECT_EQ(ErrorOf("[upstreams.blue]\nport = 5432\n"),
            "pgvalve.toml: databases: no route defined; add "
            "[databases.\"*\"]");
}

TEST(ConfigFileErrorTest, BadDurations) {
  EXPECT_EQ(ErrorWithRoutes("[proxy]\nstartup_timeout = \"5 sec\"\n"),
            "pgvalve.toml: proxy.startup_timeout: must be a duration such as "
            "\"250ms\", \"5s\", \"2m\" or \"1h\", got \"5 sec\"");
  EXPECT_EQ(ErrorWithRoutes("[proxy]\nhold_timeout = \"0s\"\n"),
            "pgvalve.toml: proxy.hold_timeout: must be positive, got 0ms");
  EXPECT_EQ(ErrorWithRoutes("[proxy]\nterminate_wait = -5\n"),
            "pgvalve.toml: proxy.terminate_wait: must be positive, got -5ms");
  EXPECT_EQ(ErrorWithRoutes("[proxy]\nshutdown_timeout = \"0s\"\n"),
            "pgvalve.toml: proxy.shutdown_timeout: must be positive, got 0ms");
  EXPECT_EQ(ErrorWithRoutes("[proxy]\nstartup_timeout = \"25h\"\n"),
            "pgvalve.toml: proxy.startup_timeout: must be at most 24h, got "
            "25h");
  EXPECT_EQ(ErrorWithRoutes("[proxy]\nstartup_timeout = 1.5\n"),
            "pgvalve.toml: proxy.startup_timeout: must be a duration such as "
            "\"5s\" or an integer of milliseconds, got float");
  EXPECT_EQ(ErrorOf("[upstreams.blue]\nconnect_timeout = \"5d\"\n"),
            "pgvalve.toml: upstreams.blue.connect_timeout: must be a duration "
            "such as \"250ms\", \"5s\", \"2m\" or \"1h\", got \"5d\"");
}

TEST(ConfigFileErrorTest, ControlCredentials) {
  EXPECT_EQ(ErrorOf("[upstreams.blue]\ncontrol_user = \"postgres\"\n"
                    "control_password = \"x\"\ncontrol_passfile = \"/p\"\n"
                    "[databases.\"*\"]\nupstream = \"blue\"\n"),
            "pgvalve.toml: upstreams.blue.control_passfile: set together with "
            "control_password; use only one");
  EXPECT_EQ(ErrorOf("[upstreams.blue]\ncontrol_password = \"x\"\n"
                    "[databases.\"*\"]\nupstream = \"blue\"\n"),
            "pgvalve.toml: upstreams.blue.control_password: set without "
            "control_user");
}

TEST(ConfigFileErrorTest, BadListenAddresses) {
  EXPECT_EQ(ErrorWithRoutes("[proxy]\nlisten = [\"127.0.0.1:6432\", "
                            "\"foo\"]\n"),
            "pgvalve.toml: proxy.listen[1]: expected ADDR:PORT, got \"foo\"");
  EXPECT_EQ(ErrorWithRoutes("[proxy]\nlisten = \"127.0.0.1:6432\"\n"),
            "pgvalve.toml: proxy.listen: must be an array of \"ADDR:PORT\" "
            "strings, got string");
  EXPECT_EQ(ErrorWithRoutes("[admin]\nlisten = [\"127.0.0.1:6432\"]\n"),
            "pgvalve.toml: admin.listen[0]: 127.0.0.1:6432 is listed more "
            "than once");
  EXPECT_EQ(ErrorWithRoutes("[proxy]\nlisten = []\n"),
            "pgvalve.toml: proxy.listen: no address to listen on; list one or "
            "set proxy.unix_socket_dir");
}

TEST(ConfigFileTest, LogFormat) {
  const absl::StatusOr<Config> config = ParseConfigText("log_format = \"json\"\n" + std::string(kRoutes), "l.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->log_format, "json");
  EXPECT_EQ(ErrorWithRoutes("log_format = \"yaml\"\n"),
            "pgvalve.toml: log_format: must be text or json, got \"yaml\"");
}

TEST(ConfigFileTest, ReadsTheFleetSection) {
  const absl::StatusOr<Config> none = ParseConfigText(std::string(kRoutes), "none.toml");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->fleet.enabled()) << "no fleet unless asked for";
  const absl::StatusOr<Config> config = ParseConfigText(
      "[fleet]\netcd_endpoints = [\"http://10.0.0.1:2379\", \"10.0.0.2:2379\"]\n"
      "key_prefix = \"/prod/pgvalve\"\n"
      "instance_id = \"pgvalve-1\"\nlease_ttl = \"15s\"\nack_timeout = \"5s\"\n"
      "advertise_address = \"pgvalve-1.internal:6432\"\netcd_user = \"pgvalve\"\netcd_password = \"pw\"\n" +
          std::string(kRoutes),
      "fleet.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->fleet.enabled());
  EXPECT_EQ(config->fleet.etcd_endpoints, (std::vector<std::string>{"http://10.0.0.1:2379", "10.0.0.2:2379"}));
  EXPECT_EQ(config->fleet.key_prefix, "/prod/pgvalve");
  EXPECT_EQ(config->fleet.instance_id, "pgvalve-1");
  EXPECT_EQ(config->fleet.lease_ttl, std::chrono::seconds(15));
  EXPECT_EQ(config->fleet.ack_timeout, std::chrono::seconds(5));
  EXPECT_EQ(config->fleet.advertise_address, "pgvalve-1.internal:6432");
  EXPECT_EQ(config->fleet.etcd_user, "pgvalve");
  EXPECT_EQ(config->fleet.etcd_password, "pw");
  EXPECT_EQ(none->fleet.ack_timeout, std::chrono::seconds(2));

  const absl::StatusOr<Config> tls = ParseConfigText(
      "[fleet]\netcd_endpoints = [\"https://etcd-1:2379\", \"https://etcd-2:2379\"]\n"
      "etcd_ca_file = \"/etc/etcd/ca.crt\"\netcd_cert_file = \"/etc/pgvalve/etcd.crt\"\n"
      "etcd_key_file = \"/etc/pgvalve/etcd.key\"\n" +
          std::string(kRoutes),
      "tls.toml");
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_EQ(tls->fleet.etcd_ca_file, "/etc/etcd/ca.crt");
  EXPECT_EQ(tls->fleet.etcd_cert_file, "/etc/pgvalve/etcd.crt");
  EXPECT_EQ(tls->fleet.etcd_key_file, "/etc/pgvalve/etcd.key");
}

TEST(ConfigFileErrorTest, FleetSection) {
  EXPECT_EQ(ErrorWithRoutes("[fleet]\netcd_endpoints = [\"etcd\"]\n"),
            "pgvalve.toml: fleet.etcd_endpoints[0]: etcd endpoint \"etcd\" is not http://HOST:PORT or "
            "https://HOST:PORT");
  EXPECT_EQ(ErrorWithRoutes("[fleet]\netcd_endpoints = [\"https://etcd-1:2379\", \"http://etcd-2:2379\"]\n"),
            "pgvalve.toml: fleet.etcd_endpoints: mixes http and https endpoints; etcd serves its clients one way");
  EXPECT_EQ(ErrorWithRoutes("[fleet]\netcd_endpoints = [\"https://etcd:2379\"]\netcd_cert_file = \"c.crt\"\n"),
            "pgvalve.toml: fleet.etcd_key_file: must be set together with the other of etcd_cert_file and "
            "etcd_key_file");
  EXPECT_EQ(ErrorWithRoutes("[fleet]\netcd_endpoints = [\"http://etcd:2379\"]\netcd_ca_file = \"ca.crt\"\n"),
            "pgvalve.toml: fleet.etcd_ca_file: is set but no etcd endpoint is https://");
  EXPECT_EQ(ErrorWithRoutes("[fleet]\nkey_prefix = \"pgvalve/\"\n"),
            "pgvalve.toml: fleet.key_prefix: must start with / and not end with it, got \"pgvalve/\"");
  EXPECT_EQ(ErrorWithRoutes("[fleet]\ninstance_id = \"a b\"\n"),
            "pgvalve.toml: fleet.instance_id: must be 1 to 128 letters, digits, '.', '-', '_' or ':', got \"a b\"");
  EXPECT_EQ(ErrorWithRoutes("[fleet]\nlease_ttl = \"1s\"\n"),
            "pgvalve.toml: fleet.lease_ttl: must be between 2s and 1h");
  EXPECT_EQ(ErrorWithRoutes("[fleet]\netcd_user = \"pgvalve\"\n"),
            "pgvalve.toml: fleet.etcd_password: etcd_user and etcd_password go together");
  EXPECT_EQ(ErrorWithRoutes("[fleet]\nack_timeout = \"10ms\"\n"),
            "pgvalve.toml: fleet.ack_timeout: must be between 100ms and 1min");
  EXPECT_EQ(ErrorWithRoutes("[fleet]\nadvertise_address = \"0.0.0.0:6432\"\n"),
            "pgvalve.toml: fleet.advertise_address: must be HOST:PORT that other instances can connect to, "
            "got \"0.0.0.0:6432\"");
  EXPECT_EQ(ErrorWithRoutes("[fleet]\nendpoints = []\n"), "pgvalve.toml: fleet.endpoints: unknown key");
}

TEST(ConfigFileErrorTest, HttpSection) {
  EXPECT_EQ(ErrorWithRoutes("[http]\nmetrics_auth = \"no\"\n"),
            "pgvalve.toml: http.metrics_auth: must be true or false, got string");
  EXPECT_EQ(ErrorWithRoutes("[http]\nlisten = [\"127.0.0.1:6433\"]\n"),
            "pgvalve.toml: http.listen[0]: 127.0.0.1:6433 is listed more than once")
      << "the admin console's default address";
  EXPECT_EQ(ErrorWithRoutes("[http]\nport = 9187\n"), "pgvalve.toml: http.port: unknown key");
  EXPECT_EQ(ErrorWithRoutes("[http]\ntls = true\n"),
            "pgvalve.toml: http.tls: needs the admin console's TLS: set [admin] client_tls_sslmode, "
            "client_tls_cert_file and client_tls_key_file");
}

TEST(ConfigFileErrorTest, SyntaxErrorNamesFileAndLine) {
  const std::string error = ErrorOf("[proxy]\nlisten = [\"a:1\"]\nfoo bar\n");
  EXPECT_THAT(error, StartsWith("pgvalve.toml:3: syntax error: "));
  EXPECT_THAT(error, HasSubstr("foo bar"));
  EXPECT_THAT(ErrorOf("[upstreams.blue]\n[upstreams.blue]\n"),
              StartsWith("pgvalve.toml:2: syntax error: "));
}

// Found by fuzz_config_file: toml11 threw std::length_error for a literal
// string holding invalid UTF-8, and the error named no line.
TEST(ConfigFileErrorTest, InvalidUtf8NamesTheLine) {
  EXPECT_EQ(ErrorOf("[proxy]\nunix_socket_dir = '/tmp/\xd3'\n"),
            "pgvalve.toml:2: syntax error: invalid UTF-8; TOML files must be "
            "UTF-8");
  EXPECT_THAT(ErrorOf("log_level = 'info'\n\n'\xe2\x82' = 1\n"),
              StartsWith("pgvalve.toml:3: syntax error: "));
}

TEST(ConfigFileErrorTest, AdminUsers) {
  EXPECT_EQ(ErrorWithRoutes("[[admin.users]]\nname = \"a\"\npassword = \"b\"\n"
                            "[[admin.users]]\nname = \"a\"\npassword = "
                            "\"c\"\n"),
            "pgvalve.toml: admin.users[1].name: \"a\" is already used by "
            "admin.users[0]");
  EXPECT_EQ(ErrorWithRoutes("[[admin.users]]\nname = \"a\"\npassword = "
                            "\"b\"\nrole = \"root\"\n"),
            "pgvalve.toml: admin.users[0].role: must be \"admin\" or "
            "\"monitor\", got \"root\"");
  EXPECT_EQ(ErrorWithRoutes("[[admin.users]]\nname = \"a\"\n"),
            "pgvalve.toml: admin.users[0]: missing required key \"password\"");
  EXPECT_EQ(ErrorWithRoutes("[[admin.users]]\nname = \"a\"\npassword = "
                            "\"SCRAM-SHA-256$4096:abc$x:y\"\n"),
            "pgvalve.toml: admin.users[0].password: malformed SCRAM-SHA-256 "
            "verifier: salt is not valid base64 (expected "
            "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>)");
  EXPECT_EQ(ErrorWithRoutes("[admin]\nusers = \"admin\"\n"),
            "pgvalve.toml: admin.users: must be an array of tables, got "
            "string");
}

TEST(ConfigFileErrorTest, OtherRules) {
  EXPECT_EQ(ErrorWithRoutes("log_level = \"verbose\"\n"),
            "pgvalve.toml: log_level: must be one of "
            "trace|debug|info|warn|error, got \"verbose\"");
  EXPECT_EQ(ErrorWithRoutes("[proxy]\nmax_client_connections = 0\n"),
            "pgvalve.toml: proxy.max_client_connections: must be an integer "
            "between 1 and 1000000, got 0");
  EXPECT_EQ(ErrorWithRoutes("[proxy]\nmax_message_size = 1024\n"),
            "pgvalve.toml: proxy.max_message_size: must be an integer between "
            "8192 and 2147483647, got 1024");
  EXPECT_EQ(ErrorOf("[upstreams.blue]\nhost = \"db host\"\n"
                    "[databases.\"*\"]\nupstream = \"blue\"\n"),
            "pgvalve.toml: upstreams.blue.host: \"db host\" is not a valid "
            "host name");
  EXPECT_EQ(ErrorOf("proxy = 5\n"),
            "pgvalve.toml: proxy: must be a table, got integer");
  EXPECT_EQ(ErrorOf("[upstreams.blue]\n[databases.app]\n"),
            "pgvalve.toml: databases.app: missing required key \"upstream\"");
}

class ConfigFileOnDiskTest : public ::testing::Test {
 protected:
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_ = absl::StrCat(::testing::TempDir(), "config_file_test_",
                                   ::getpid(), ".toml");
};

TEST_F(ConfigFileOnDiskTest, LoadsAFile) {
  std::ofstream(path_) << kExample;
  const absl::StatusOr<Config> config = LoadConfigFile(path_);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, path_);
}

TEST_F(ConfigFileOnDiskTest, ErrorsNameThePath) {
  std::ofstream(path_) << "[upstreams.blue]\nport = 0\n";
  const absl::StatusOr<Config> config = LoadConfigFile(path_);
  EXPECT_EQ(config.status().message(),
            absl::StrCat(path_,
                         ": upstreams.blue.port: must be an integer "
                         "between 1 and 65535, got 0"));
}

TEST_F(ConfigFileOnDiskTest, MissingFile) {
  const absl::StatusOr<Config> config = LoadConfigFile(path_);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), StartsWith(path_));
  EXPECT_FALSE(LoadConfigFile(::testing::TempDir()).ok());
}

TEST(ReadConfigTextTest, SkipsValidation) {
  const absl::StatusOr<Config> config =
      ReadConfigText("[proxy]\nworkers = 2\n", "partial.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->proxy.workers, 2u);
  EXPECT_FALSE(ParseConfigText("[proxy]\nworkers = 2\n", "partial.toml").ok());
}

}  // namespace
}  // namespace pgvalve::config
