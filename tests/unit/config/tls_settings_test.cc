// client_tls_* and server_tls_*: their names, defaults, the protocol list,
// and what validation refuses. The files they name are read only when the
// TLS contexts are built (tests/unit/tls).

#include "config/tls_settings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config_file.h"

namespace pgvalve::config {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<Config> Parse(std::string_view front, std::string_view upstream_keys = "") {
  std::string text(front);
  text += "\n[upstreams.blue]\nhost = \"127.0.0.1\"\nport = 5432\n";
  text += upstream_keys;
  text += "\n[databases.\"*\"]\nupstream = \"blue\"\n";
  return ParseConfigText(text, "pgvalve.toml");
}

std::string ErrorOf(const absl::StatusOr<Config>& config) {
  return config.ok() ? "(accepted)" : std::string(config.status().message());
}

TEST(TlsProtocolsTest, SecureAndAllMeanTls12AndTls13) {
  std::string error;
  for (std::string_view text : {"secure", "all", "SECURE", "default"}) {
    std::optional<TlsVersionRange> range = ParseTlsProtocols(text, error);
    ASSERT_TRUE(range) << text;
    EXPECT_EQ(range->min, TlsVersion::kTls12);
    EXPECT_EQ(range->max, TlsVersion::kTls13);
  }
}

TEST(TlsProtocolsTest, AListNamesAdjacentVersions) {
  std::string error;
  std::optional<TlsVersionRange> only13 = ParseTlsProtocols("tlsv1.3", error);
  ASSERT_TRUE(only13);
  EXPECT_EQ(only13->min, TlsVersion::kTls13);
  EXPECT_EQ(only13->max, TlsVersion::kTls13);
  std::optional<TlsVersionRange> both = ParseTlsProtocols("tlsv1.3, tlsv1.2", error);
  ASSERT_TRUE(both);
  EXPECT_EQ(both->min, TlsVersion::kTls12);
  EXPECT_EQ(both->max, TlsVersion::kTls13);
}

TEST(TlsProtocolsTest, OldAndUnknownVersionsAreRefused) {
  std::string error;
  EXPECT_FALSE(ParseTlsProtocols("tlsv1.1,tlsv1.2", error));
  EXPECT_THAT(error, HasSubstr("tlsv1.1 is not supported"));
  EXPECT_FALSE(ParseTlsProtocols("sslv3", error));
  EXPECT_THAT(error, HasSubstr("unknown protocol \"sslv3\""));
  EXPECT_FALSE(ParseTlsProtocols(" , ", error));
  EXPECT_THAT(error, HasSubstr("names no protocol"));
}

TEST(TlsSettingsTest, ModesHaveTheirLibpqAndPgBouncerNames) {
  for (std::string_view name : {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}) {
    ASSERT_TRUE(ParseClientTlsMode(name)) << name;
    EXPECT_EQ(Name(*ParseClientTlsMode(name)), name);
    ASSERT_TRUE(ParseServerTlsMode(name)) << name;
    EXPECT_EQ(Name(*ParseServerTlsMode(name)), name);
  }
  EXPECT_FALSE(ParseClientTlsMode("on"));
}

TEST(TlsSettingsTest, TlsIsOffUnlessConfigured) {
  absl::StatusOr<Config> config = Parse("");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->proxy.tls.mode, ClientTlsMode::kDisable);
  EXPECT_EQ(config->admin.tls.mode, ClientTlsMode::kDisable);
  EXPECT_EQ(config->upstreams.at("blue").tls.mode, ServerTlsMode::kDisable);
}

TEST(TlsSettingsTest, ReadsEveryKey) {
  absl::StatusOr<Config> config = Parse(R"toml(
[proxy]
client_tls_sslmode = "verify-ca"
client_tls_cert_file = "/etc/pgvalve/server.crt"
client_tls_key_file = "/etc/pgvalve/server.key"
client_tls_ca_file = "/etc/pgvalve/clients.crt"
client_tls_protocols = "tlsv1.3"
client_tls_ciphers = "HIGH:!aNULL"
client_tls13_ciphers = "TLS_AES_256_GCM_SHA384"
[admin]
client_tls_sslmode = "require"
client_tls_cert_file = "/etc/pgvalve/admin.crt"
client_tls_key_file = "/etc/pgvalve/admin.key"
)toml",
                                        "server_tls_sslmode = \"verify-full\"\n"
                                        "server_tls_ca_file = \"/etc/pgvalve/db-ca.crt\"\n"
                                        "server_tls_cert_file = \"/etc/pgvalve/me.crt\"\n"
                                        "server_tls_key_file = \"/etc/pgvalve/me.key\"\n");
  ASSERT_TRUE(config.ok()) << config.status();
  const ClientTlsSettings& proxy = config->proxy.tls;
  EXPECT_EQ(proxy.mode, ClientTlsMode::kVerifyCa);
  EXPECT_EQ(proxy.cert_file, "/etc/pgvalve/server.crt");
  EXPECT_EQ(proxy.key_file, "/etc/pgvalve/server.key");
  EXPECT_EQ(proxy.ca_file, "/etc/pgvalve/clients.crt");
  EXPECT_EQ(proxy.min_version, TlsVersion::kTls13);
  EXPECT_EQ(proxy.ciphers, "HIGH:!aNULL");
  EXPECT_EQ(proxy.tls13_ciphers, "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(config->admin.tls.mode, ClientTlsMode::kRequire);
  const ServerTlsSettings& upstream = config->upstreams.at("blue").tls;
  EXPECT_EQ(upstream.mode, ServerTlsMode::kVerifyFull);
  EXPECT_EQ(upstream.ca_file, "/etc/pgvalve/db-ca.crt");
  EXPECT_EQ(upstream.cert_file, "/etc/pgvalve/me.crt");
  EXPECT_EQ(upstream.key_file, "/etc/pgvalve/me.key");
}

TEST(TlsSettingsTest, ValidationSaysWhatIsMissing) {
  EXPECT_THAT(ErrorOf(Parse("[proxy]\nclient_tls_sslmode = \"require\"\n")),
              HasSubstr("proxy.client_tls_sslmode: is require but no certificate is set"));
  EXPECT_THAT(ErrorOf(Parse("[proxy]\nclient_tls_cert_file = \"/c\"\n")),
              HasSubstr("proxy.client_tls_key_file: must be set together"));
  EXPECT_THAT(ErrorOf(Parse("[admin]\nclient_tls_sslmode = \"verify-ca\"\nclient_tls_cert_file = \"/c\"\n"
                            "client_tls_key_file = \"/k\"\n")),
              HasSubstr("admin.client_tls_sslmode: is verify-ca but client_tls_ca_file is not set"));
  EXPECT_THAT(ErrorOf(Parse("[proxy]\nclient_tls_sslmode = \"on\"\n")),
              HasSubstr("must be disable, allow, prefer, require, verify-ca or verify-full, got \"on\""));
  EXPECT_THAT(ErrorOf(Parse("[proxy]\nclient_tls_protocols = \"tlsv1.0\"\n")),
              HasSubstr("proxy.client_tls_protocols: tlsv1.0 is not supported"));
  EXPECT_THAT(ErrorOf(Parse("", "server_tls_sslmode = \"verify-ca\"\n")),
              HasSubstr("upstreams.blue.server_tls_sslmode: is verify-ca but server_tls_ca_file is not set"));
  EXPECT_EQ(ErrorOf(Parse("", "server_tls_sslmode = \"allow\"\n")), "(accepted)");
  EXPECT_THAT(ErrorOf(Parse("", "server_tls_key_file = \"/k\"\n")),
              HasSubstr("upstreams.blue.server_tls_cert_file: must be set together"));
  EXPECT_THAT(ErrorOf(Parse("", "server_tls_sslmode = \"tls\"\n")), HasSubstr("server_tls_sslmode"));
}

TEST(TlsSettingsTest, AUnixSocketUpstreamCannotRequireTls) {
  absl::StatusOr<Config> config = ParseConfigText(
      "[upstreams.blue]\nhost = \"/var/run/postgresql\"\nserver_tls_sslmode = \"require\"\n"
      "[databases.\"*\"]\nupstream = \"blue\"\n",
      "pgvalve.toml");
  EXPECT_THAT(ErrorOf(config), HasSubstr("reached by unix socket, which TLS is not used over"));
  absl::StatusOr<Config> prefer = ParseConfigText(
      "[upstreams.blue]\nhost = \"/var/run/postgresql\"\nserver_tls_sslmode = \"prefer\"\n"
      "[databases.\"*\"]\nupstream = \"blue\"\n",
      "pgvalve.toml");
  EXPECT_TRUE(prefer.ok()) << prefer.status();
}

TEST(TlsSettingsTest, AnUnknownTlsKeyIsNamed) {
  EXPECT_THAT(ErrorOf(Parse("[proxy]\nclient_tls_sslmod = \"require\"\n")),
              HasSubstr("unknown key; did you mean \"client_tls_sslmode\"?"));
}

}  // namespace
}  // namespace pgvalve::config
