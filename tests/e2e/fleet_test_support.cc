#include "tests/e2e/fleet_test_support.h"

namespace pgvalve::test {

EtcdServer& FleetTest::etcd() {
  static const std::unique_ptr<EtcdServer> server = std::make_unique<EtcdServer>();
  return *server;
}

std::string FleetTest::FleetToml(std::string_view id, std::string_view prefix, std::string_view lease_ttl) {
  return "\n[fleet]\netcd_endpoints = [\"" + etcd().endpoint() + "\"]\nkey_prefix = \"" + std::string(prefix) +
         "\"\ninstance_id = \"" + std::string(id) + "\"\nlease_ttl = \"" + std::string(lease_ttl) + "\"\n";
}

std::unique_ptr<AdminPgvalve> FleetTest::Instance(std::string_view id, std::string_view prefix,
                                                  std::string_view extra_fleet_toml, std::string_view lease_ttl) {
  AdminPgvalveOptions options;
  options.extra_toml = FleetToml(id, prefix, lease_ttl) + std::string(extra_fleet_toml);
  return std::make_unique<AdminPgvalve>(pg(), options);
}

std::set<std::string> FleetTest::FleetIds(AdminPgvalve& pgvalve) {
  PgConn admin = Connect(pgvalve.AdminConnString());
  std::set<std::string> ids;
  // While etcd comes back SHOW FLEET may fail (08006): no instances yet.
  PgResult fleet = Exec(admin.get(), "SHOW FLEET");
  if (PQresultStatus(fleet.get()) != PGRES_TUPLES_OK) return ids;
  const ResultTable table(fleet.get());
  for (size_t row = 0; row < table.size(); ++row) ids.insert(table.Text(row, "instance_id"));
  return ids;
}

std::string FleetTest::ConnectSqlState(AdminPgvalve& pgvalve, std::string_view database) {
  ConnectOutcome outcome = TryConnect(pgvalve.ClientConnString(database));
  if (outcome.ok()) return "";
  return outcome.sqlstate.empty() ? "?" : outcome.sqlstate;
}

bool FleetTest::WaitAdmitting(AdminPgvalve& pgvalve) {
  return WaitUntil([&] { return ConnectSqlState(pgvalve, "postgres") != "57P03"; });
}

}  // namespace pgvalve::test
