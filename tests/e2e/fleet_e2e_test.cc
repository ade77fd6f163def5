// pgvalve instances sharing one etcd ([fleet]): each registers itself under
// a lease, SHOW FLEET on any lists them all, and an instance killed with
// SIGKILL leaves the list once its lease expires; etcd reached over TLS.
// Real etcd, real PostgreSQL, the pgvalve binary.

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <set>
#include <string>

#include "tests/e2e/fleet_test_support.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_certificates.h"

namespace pgvalve::test {
namespace {

TEST_F(FleetTest, EveryInstanceListsEveryInstance) {
  std::unique_ptr<AdminPgvalve> a = Instance("a", "/fleet-list");
  std::unique_ptr<AdminPgvalve> b = Instance("b", "/fleet-list");
  const std::set<std::string> both = {"a", "b"};
  std::set<std::string> seen;
  ASSERT_TRUE(WaitUntil([&] { return (seen = FleetIds(*a)) == both; }, kLeaseGone))
      << "SHOW FLEET on a: " << seen.size() << " instances\n" << a->process().LogTail();
  EXPECT_EQ(FleetIds(*b), both);

  // The row of a, seen from a: its address and version, marked as itself.
  PgConn admin = Connect(a->AdminConnString());
  const ResultTable fleet = QueryTable(admin.get(), "SHOW FLEET");
  const std::optional<size_t> self = fleet.FindRow("instance_id", "a");
  ASSERT_TRUE(self) << fleet.ToString();
  EXPECT_EQ(fleet.Text(*self, "self"), "t");
  EXPECT_EQ(fleet.Text(*self, "address"), "127.0.0.1:" + std::to_string(a->listen_port()));
  EXPECT_FALSE(fleet.Text(*self, "version").empty());
  EXPECT_EQ(fleet.Text(*fleet.FindRow("instance_id", "b"), "self"), "f");
  EXPECT_EQ(a->StopAndCheck(), "");
  EXPECT_EQ(b->StopAndCheck(), "");
}

TEST_F(FleetTest, AKilledInstanceLeavesWhenItsLeaseExpires) {
  std::unique_ptr<AdminPgvalve> a = Instance("a", "/fleet-kill");
  std::unique_ptr<AdminPgvalve> b = Instance("b", "/fleet-kill");
  std::set<std::string> seen;
  ASSERT_TRUE(WaitUntil([&] { return (seen = FleetIds(*a)).size() == 2; }, kLeaseGone)) << seen.size();

  b->process().Signal(SIGKILL);
  EXPECT_TRUE(WaitUntil([&] { return (seen = FleetIds(*a)) == std::set<std::string>{"a"}; }, kLeaseGone))
      << "still listed: " << seen.size() << " instances";
  EXPECT_EQ(a->StopAndCheck(), "");
}

TEST_F(FleetTest, WithoutAFleetShowFleetSaysSo) {
  PgConn admin = ConnectAdmin();
  const QueryOutcome outcome = RunQuery(admin.get(), "SHOW FLEET");
  EXPECT_EQ(outcome.sqlstate, "55000") << outcome.Describe();
}

// [fleet] with https endpoints: the instance verifies etcd's certificate
// against etcd_ca_file and shows its own to an etcd that asks for one. A
// CA file that cannot be read stops pgvalve at start, naming the file.
TEST_F(FleetTest, AnInstanceReachesEtcdOverTls) {
  TestCa ca("etcd CA");
  TempDir files("pgvalve-fleet-tls");
  const TestCertificate server = ca.Issue({.common_name = "etcd", .ip_addresses = {"127.0.0.1"}});
  const TestCertificate client = ca.Issue({.common_name = "pgvalve"});
  WriteSecretFile(files.path() + "/ca.crt", ca.certificate_pem(), 0644);
  WriteSecretFile(files.path() + "/client.crt", client.certificate_pem, 0644);
  WriteSecretFile(files.path() + "/client.key", client.key_pem, 0600);
  EtcdServer tls_etcd(EtcdServer::Tls{
      .certificate_pem = server.certificate_pem, .key_pem = server.key_pem, .client_ca_pem = ca.certificate_pem()});

  auto options_with_ca = [&](const std::string& ca_file) {
    AdminPgvalveOptions options;
    options.extra_toml = "\n[fleet]\netcd_endpoints = [\"" + tls_etcd.endpoint() +
                         "\"]\nkey_prefix = \"/fleet-tls\"\ninstance_id = \"tls-a\"\nlease_ttl = \"2s\"\n"
                         "etcd_ca_file = \"" + ca_file + "\"\netcd_cert_file = \"" + files.path() +
                         "/client.crt\"\netcd_key_file = \"" + files.path() + "/client.key\"\n";
    return options;
  };
  auto a = std::make_unique<AdminPgvalve>(pg(), options_with_ca(files.path() + "/ca.crt"));
  ASSERT_TRUE(WaitAdmitting(*a)) << a->process().LogTail();
  EXPECT_EQ(FleetIds(*a), std::set<std::string>{"tls-a"});
  EXPECT_EQ(ConnectSqlState(*a, "postgres"), "");
  EXPECT_EQ(a->StopAndCheck(), "");

  std::string failure;
  try {
    AdminPgvalve unreadable(pg(), options_with_ca(files.path() + "/missing.crt"));
  } catch (const std::runtime_error& error) {
    failure = error.what();
  }
  EXPECT_NE(failure.find("cannot load CA file \"" + files.path() + "/missing.crt\""), std::string::npos)
      << failure;
}

}  // namespace

// The shared pgvalve (ConnectAdmin) is in no fleet.
AdminPgvalveOptions SharedPgvalveOptions(const PgServer&) { return {}; }

}  // namespace pgvalve::test
