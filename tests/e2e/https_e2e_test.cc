// The HTTP endpoint over TLS ([http] tls = true): served with the admin
// console's certificate to a real client (curl, which also offers h2 by
// ALPN and must be answered in HTTP/1.1), with the console's credentials,
// and never in plain text on that port.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "tests/e2e/admin_test_support.h"
#include "tests/support/free_port.h"
#include "tests/support/http_client.h"
#include "tests/support/log_file.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_certificates.h"

namespace pgvalve::test {
namespace {

using ::testing::HasSubstr;

class HttpsEndpointTest : public AdminConsoleTest {};

// What curl said: the status and HTTP version it saw, then the body.
struct CurlResult {
  CommandResult command;
  std::string status_and_version;
  std::string body;
};

CurlResult CurlGet(const std::string& url, const std::string& ca_file, const std::string& body_file,
                   const std::string& user_and_password) {
  CurlResult result;
  result.command = RunCommand({"curl", "--silent", "--show-error", "--max-time", "10", "--cacert", ca_file,
                               "--user", user_and_password, "--output", body_file, "--write-out",
                               "%{http_code} %{http_version}", url});
  result.status_and_version = result.command.output;
  result.body = ReadWholeFile(body_file);
  return result;
}

TEST_F(HttpsEndpointTest, ServesMetricsOverTlsWithTheAdminConsolesCertificate) {
  TempDir dir("pgvalve-https");
  const TestCa ca("pgvalve HTTPS test CA");
  const TestCertificate certificate =
      ca.Issue({.common_name = "localhost", .dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"}});
  const std::string ca_file = dir.path() + "/ca.crt";
  WriteSecretFile(ca_file, ca.certificate_pem(), 0644);
  WriteSecretFile(dir.path() + "/http.crt", certificate.certificate_pem, 0644);
  WriteSecretFile(dir.path() + "/http.key", certificate.key_pem, 0600);

  const uint16_t port = FreeTcpPort();
  AdminPgvalveOptions options;
  options.admin_toml = "client_tls_sslmode = \"prefer\"\nclient_tls_cert_file = \"" + dir.path() +
                       "/http.crt\"\nclient_tls_key_file = \"" + dir.path() + "/http.key\"\n";
  options.extra_toml = "\n[http]\nlisten = [\"127.0.0.1:" + std::to_string(port) + "\"]\ntls = true\n";
  AdminPgvalve https(pg(), options);
  ASSERT_TRUE(WaitUntil([&] { return CanConnectTcp(port); }, std::chrono::seconds(10)))
      << https.process().LogTail();

  const std::string url = "https://127.0.0.1:" + std::to_string(port) + "/metrics";
  const std::string monitor = std::string(kMonitorUser) + ":" + std::string(kMonitorPassword);
  const CurlResult served = CurlGet(url, ca_file, dir.path() + "/body", monitor);
  ASSERT_TRUE(served.command.Succeeded()) << served.command.output << "\n" << https.process().LogTail();
  EXPECT_EQ(served.status_and_version, "200 1.1");
  EXPECT_THAT(served.body, HasSubstr("\npgvalve_worker_threads "));

  const CurlResult refused = CurlGet(url, ca_file, dir.path() + "/refused", monitor + "-wrong");
  EXPECT_EQ(refused.status_and_version, "401 1.1") << refused.command.output;

  // The same port in plain text gets no HTTP answer at all.
  EXPECT_THROW(HttpGet(port, "/healthz"), std::runtime_error);
  EXPECT_EQ(https.StopAndCheck(), "");
}

}  // namespace
}  // namespace pgvalve::test
