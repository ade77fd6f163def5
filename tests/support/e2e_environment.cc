#include "tests/support/e2e_environment.h"

#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>

#include "tests/support/libpq_helpers.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_certificates.h"

namespace pgvalve::test {
namespace {

// The servers shared by one test binary. Created lazily so that a binary
// whose tests are filtered away starts nothing.
struct SharedServers {
  std::optional<TempDir> socket_dir;
  std::unique_ptr<TestCa> tls_ca;
  std::optional<TempDir> tls_dir;
  std::unique_ptr<PgServer> pg;
  std::optional<PgvalveArgs> proxy_args;
  std::unique_ptr<PgvalveProcess> proxy;
  // Set when starting failed: every test then fails with this instead of
  // retrying initdb each time.
  std::string startup_error;
  bool started = false;
};

SharedServers& Shared() {
  static SharedServers servers;
  return servers;
}

// PGVALVE_E2E_TLS=both: PostgreSQL with ssl = on, pgvalve requiring TLS of
// its TCP clients and speaking TLS to PostgreSQL, and every TCP connection
// string asking for it. The same tests then prove the relay over TLS.
PgServer::Options ServerOptions(SharedServers& servers) {
  PgServer::Options options;
  if (!ProxiedPostgresTest::TlsOnBothLegs()) return options;
  servers.tls_ca = std::make_unique<TestCa>("pgvalve e2e CA");
  const TestCertificate server = servers.tls_ca->Issue(
      {.common_name = "localhost", .dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"}});
  options.tls = PgServer::Options::Tls{server.certificate_pem, server.key_pem};
  return options;
}

void ConfigureTls(SharedServers& servers, PgvalveArgs& args) {
  servers.tls_dir.emplace("pgvalve-tls");
  const std::string dir = servers.tls_dir->path();
  const TestCertificate proxy = servers.tls_ca->Issue(
      {.common_name = "localhost", .dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"}});
  WriteSecretFile(dir + "/ca.crt", servers.tls_ca->certificate_pem(), 0644);
  WriteSecretFile(dir + "/proxy.crt", proxy.certificate_pem, 0644);
  WriteSecretFile(dir + "/proxy.key", proxy.key_pem, 0600);
  // --upstream replaces the host and port of "default" and keeps the rest.
  WriteSecretFile(dir + "/pgvalve.toml",
                  "[proxy]\n"
                  "client_tls_sslmode = \"require\"\n"
                  "client_tls_cert_file = \"" +
                      dir +
                      "/proxy.crt\"\n"
                      "client_tls_key_file = \"" +
                      dir +
                      "/proxy.key\"\n"
                      "[upstreams.default]\n"
                      "server_tls_sslmode = \"verify-full\"\n"
                      "server_tls_ca_file = \"" +
                      dir +
                      "/ca.crt\"\n"
                      "[databases.\"*\"]\n"
                      "upstream = \"default\"\n",
                  0644);
  args.config_file = dir + "/pgvalve.toml";
}

void StartProxy(SharedServers& servers) {
  servers.proxy = std::make_unique<PgvalveProcess>(*servers.proxy_args);
}

SharedServers& EnsureStarted() {
  SharedServers& servers = Shared();
  if (servers.started) return servers;
  servers.started = true;
  try {
    servers.pg = std::make_unique<PgServer>(ServerOptions(servers));
    if (!ProxiedPostgresTest::TargetIsDirect()) {
      servers.socket_dir.emplace("pgvalve-sock");
      servers.proxy_args = StandardPgvalveArgs(*servers.pg, servers.socket_dir->path());
      if (ProxiedPostgresTest::TlsOnBothLegs()) ConfigureTls(servers, *servers.proxy_args);
      StartProxy(servers);
    }
  } catch (const std::exception& error) {
    servers.startup_error = error.what();
  }
  return servers;
}

SharedServers& Running() {
  SharedServers& servers = EnsureStarted();
  if (!servers.startup_error.empty()) {
    throw std::runtime_error("shared test servers failed to start: " + servers.startup_error);
  }
  return servers;
}

// Runs after the last test, while GoogleTest still reports failures, so a
// proxy that crashes or leaks on shutdown fails the run rather than going
// unnoticed in a static destructor.
class SharedServersEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    SharedServers& servers = Shared();
    if (servers.proxy) {
      const std::string problem = servers.proxy->StopAndCheck();
      if (!problem.empty()) ADD_FAILURE() << "shared " << problem;
      servers.proxy.reset();
    }
    servers.pg.reset();
    servers.socket_dir.reset();
  }
};

[[maybe_unused]] ::testing::Environment* const kSharedServersEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedServersEnvironment);

}  // namespace

bool ProxiedPostgresTest::TargetIsDirect() {
  const char* target = std::getenv("PGVALVE_E2E_TARGET");
  return target != nullptr && std::string_view(target) == "direct";
}

bool ProxiedPostgresTest::TlsOnBothLegs() {
  const char* tls = std::getenv("PGVALVE_E2E_TLS");
  return tls != nullptr && std::string_view(tls) == "both";
}

PgServer& ProxiedPostgresTest::pg() { return *Running().pg; }

PgvalveProcess& ProxiedPostgresTest::proxy() {
  if (TargetIsDirect()) {
    throw std::logic_error("proxy() called with PGVALVE_E2E_TARGET=direct; skip this test there");
  }
  return *Running().proxy;
}

std::string ProxiedPostgresTest::ProxyConnString(std::string_view database,
                                                 std::string_view user, std::string_view extra) {
  if (TargetIsDirect()) return pg().ConnString(database, user, extra);
  std::string conninfo = "host=127.0.0.1 port=" + std::to_string(ProxyPort()) +
                         " dbname=" + QuoteConnInfoValue(database) +
                         " user=" + QuoteConnInfoValue(user);
  if (TlsOnBothLegs()) conninfo.append(" sslmode=require");
  if (!extra.empty()) conninfo.append(" ").append(extra);
  return conninfo;
}

std::string ProxiedPostgresTest::ProxySocketConnString(std::string_view database,
                                                       std::string_view user,
                                                       std::string_view extra) {
  if (TargetIsDirect()) return pg().SocketConnString(database, user, extra);
  std::string conninfo = "host=" + QuoteConnInfoValue(ProxySocketDir()) +
                         " port=" + std::to_string(ProxyPort()) +
                         " dbname=" + QuoteConnInfoValue(database) +
                         " user=" + QuoteConnInfoValue(user);
  if (!extra.empty()) conninfo.append(" ").append(extra);
  return conninfo;
}

std::string ProxiedPostgresTest::DirectConnString(std::string_view database,
                                                  std::string_view user, std::string_view extra) {
  return pg().ConnString(database, user, extra);
}

uint16_t ProxiedPostgresTest::ProxyPort() {
  if (TargetIsDirect()) return pg().port();
  return Running().proxy_args->listen_port;
}

std::string ProxiedPostgresTest::ProxySocketDir() {
  if (TargetIsDirect()) return pg().socket_dir();
  return Running().proxy_args->unix_socket_dir;
}

uint16_t ProxiedPostgresTest::AdminPort() {
  if (TargetIsDirect()) return 0;
  return Running().proxy_args->admin_port;
}

void ProxiedPostgresTest::SetUp() {
  SharedServers& servers = EnsureStarted();
  if (!servers.startup_error.empty()) {
    GTEST_FAIL() << "shared test servers failed to start: " << servers.startup_error;
  }
  // A proxy that died in an earlier test was reported there; start a fresh
  // one on the same ports so this test is judged on its own.
  if (servers.proxy && !servers.proxy->IsRunning()) {
    try {
      StartProxy(servers);
    } catch (const std::exception& error) {
      GTEST_FAIL() << "restarting pgvalve failed: " << error.what();
    }
  }
}

void ProxiedPostgresTest::TearDown() {
  SharedServers& servers = Shared();
  if (servers.proxy && !servers.proxy->IsRunning()) {
    ADD_FAILURE() << "pgvalve " << DescribeWaitStatus(*servers.proxy->exit_status())
                  << " during this test\n"
                  << servers.proxy->SanitizerReport() << "log tail:\n"
                  << servers.proxy->LogTail();
  }
}

}  // namespace pgvalve::test
