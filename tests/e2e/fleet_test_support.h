#pragma once
// The fixture of the fleet's end-to-end tests: one real etcd shared by
// every test of the binary (each test uses a key prefix of its own, so
// fleets never meet), pgvalve instances joined to it on the shared
// PostgreSQL, and what the tests ask of them.

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "tests/e2e/admin_test_support.h"
#include "tests/support/etcd_server.h"

namespace pgvalve::test {

// A lease etcd keeps (its minimum is 2 s): a killed instance goes soon.
inline constexpr std::string_view kFleetLeaseTtl = "2s";
// Its expiry, then etcd's lease checker, with room for a busy machine.
inline constexpr std::chrono::seconds kLeaseGone{20};

class FleetTest : public AdminConsoleTest {
 protected:
  // Started on first use, stopped when the binary exits.
  static EtcdServer& etcd();

  // The [fleet] table of instance `id` under `prefix`, with `lease_ttl`.
  static std::string FleetToml(std::string_view id, std::string_view prefix,
                               std::string_view lease_ttl = kFleetLeaseTtl);
  // An instance named `id` of the fleet under key prefix `prefix`;
  // `extra_toml` goes after the [fleet] table (more of its keys).
  static std::unique_ptr<AdminPgvalve> Instance(std::string_view id, std::string_view prefix,
                                                std::string_view extra_fleet_toml = "",
                                                std::string_view lease_ttl = kFleetLeaseTtl);

  // SHOW FLEET's instance ids on `pgvalve`'s console; none while it fails.
  static std::set<std::string> FleetIds(AdminPgvalve& pgvalve);
  // Waits until `pgvalve` admits clients: it has applied the fleet's
  // state (before that, a client gets 57P03).
  static bool WaitAdmitting(AdminPgvalve& pgvalve);
  // A new client of `database` on `pgvalve`: "" when admitted, else the
  // SQLSTATE of its refusal ("?" for a refusal without one).
  static std::string ConnectSqlState(AdminPgvalve& pgvalve, std::string_view database);
};

}  // namespace pgvalve::test
