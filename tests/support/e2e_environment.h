#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "tests/support/pg_server.h"
#include "tests/support/pgvalve_process.h"

namespace pgvalve::test {

// Base fixture for end-to-end tests: one real PostgreSQL 15 and one pgvalve
// in front of it (TCP listener, unix socket, admin listener), started on
// first use and shared by every test of the binary. The proxy is checked
// after each test (a crash fails that test; it is restarted for the next)
// and when the binary finishes (a sanitizer report or unclean exit fails
// the run).
//
// Tests that change the proxy's or the server's lifetime (restarts,
// shutdown, custom config) should start their own PgvalveProcess with
// StandardPgvalveArgs(pg()) instead of touching the shared one.
//
// PGVALVE_E2E_TARGET=direct points ProxyConnString() and friends straight at
// PostgreSQL, to check that a test's expectations match the real server.
// It is for writing tests only; CI never sets it. Tests of behaviour only
// the proxy has should `if (TargetIsDirect()) GTEST_SKIP();`.
//
// A subclass that overrides SetUp/TearDown must call these first.
class ProxiedPostgresTest : public ::testing::Test {
 public:
  static bool TargetIsDirect();
  // PGVALVE_E2E_TLS=both: TLS between client and pgvalve (TCP connection
  // strings add sslmode=require) and between pgvalve and PostgreSQL.
  static bool TlsOnBothLegs();

  static PgServer& pg();
  // Throws std::logic_error when TargetIsDirect().
  static PgvalveProcess& proxy();

  // libpq connection strings for the target under test.
  static std::string ProxyConnString(std::string_view database = "postgres",
                                     std::string_view user = kSuperuser,
                                     std::string_view extra = "");
  static std::string ProxySocketConnString(std::string_view database = "postgres",
                                           std::string_view user = kSuperuser,
                                           std::string_view extra = "");
  static std::string DirectConnString(std::string_view database = "postgres",
                                      std::string_view user = kSuperuser,
                                      std::string_view extra = "");

  // Where the target listens, for psql/pgbench command lines.
  static std::string ProxyHost() { return "127.0.0.1"; }
  static uint16_t ProxyPort();
  static std::string ProxySocketDir();
  // pgvalve's admin listener on 127.0.0.1; 0 when TargetIsDirect().
  static uint16_t AdminPort();

 protected:
  void SetUp() override;
  void TearDown() override;
};

}  // namespace pgvalve::test
