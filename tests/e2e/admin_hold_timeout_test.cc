// hold_timeout: a request or a new session held by PAUSE for longer than
// proxy.hold_timeout is answered with 57P03 instead of waiting forever, and
// the session that sent the request stays usable.

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/e2e/admin_test_support.h"

namespace pgvalve::test {

AdminPgvalveOptions SharedPgvalveOptions(const PgServer&) {
  AdminPgvalveOptions options;
  options.hold_timeout = "1s";
  return options;
}

namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

class HoldTimeoutTest : public AdminConsoleTest {
 protected:
  // PAUSE of a database without transactions returns at once. FORCE for
  // a database nobody has connected to yet.
  static void Pause(PGconn* admin, const std::string& db, bool force = false) {
    Background<QueryOutcome> pause = QueryInBackground(admin, "PAUSE " + db + (force ? " FORCE" : ""));
    ASSERT_TRUE(pause.WaitFor(kHangGuard)) << "PAUSE of a quiet database did not return";
    ASSERT_TRUE(pause.Result().ok()) << pause.Result().Describe();
  }
};

TEST_F(HoldTimeoutTest, SimpleQueryHeldTooLongGets57P03AndTheSessionGoesOn) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn client = ConnectClient(db);
  ASSERT_NO_FATAL_FAILURE(Pause(admin.get(), db));

  const auto sent = steady_clock::now();
  Background<QueryOutcome> held = QueryInBackground(client.get(), "SELECT 'ran'");
  ASSERT_TRUE(held.WaitFor(kHangGuard)) << "held query never answered";
  const QueryOutcome& outcome = held.Result();
  EXPECT_EQ(outcome.sqlstate, "57P03") << outcome.Describe();
  EXPECT_GE(held.finished_at() - sent, 1s) << "answered before hold_timeout";
  EXPECT_EQ(PQstatus(client.get()), CONNECTION_OK);
  EXPECT_EQ(PQtransactionStatus(client.get()), PQTRANS_IDLE);

  ExecOk(admin.get(), "RESUME " + db);
  Background<QueryOutcome> next = QueryInBackground(client.get(), "SELECT 'after resume'");
  ASSERT_TRUE(next.WaitFor(kHangGuard));
  ASSERT_TRUE(next.Result().ok()) << next.Result().Describe();
  EXPECT_EQ(next.Result().table.Text(0, "?column?"), "after resume");
}

TEST_F(HoldTimeoutTest, ExtendedQueryHeldTooLongGets57P03AndTheSessionGoesOn) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn client = ConnectClient(db);
  ASSERT_NO_FATAL_FAILURE(Pause(admin.get(), db));

  Background<QueryOutcome> held =
      QueryParamsInBackground(client.get(), "SELECT $1::int + 1", {"41"});
  ASSERT_TRUE(held.WaitFor(kHangGuard)) << "held extended-protocol query never answered";
  EXPECT_EQ(held.Result().sqlstate, "57P03") << held.Result().Describe();
  EXPECT_EQ(PQstatus(client.get()), CONNECTION_OK);

  ExecOk(admin.get(), "RESUME " + db);
  Background<QueryOutcome> next =
      QueryParamsInBackground(client.get(), "SELECT $1::int + 1", {"41"});
  ASSERT_TRUE(next.WaitFor(kHangGuard));
  ASSERT_TRUE(next.Result().ok()) << next.Result().Describe();
  EXPECT_EQ(next.Result().table.Text(0, "?column?"), "42");
  EXPECT_EQ(ScalarString(client.get(), "SELECT 'simple too'"), "simple too");
}

TEST_F(HoldTimeoutTest, NewSessionHeldTooLongIsRefusedWith57P03) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  ASSERT_NO_FATAL_FAILURE(Pause(admin.get(), db, /*force=*/true));

  Background<ConnectOutcome> held = ConnectInBackground(pgvalve().ClientConnString(db));
  ASSERT_TRUE(held.WaitFor(kHangGuard));
  EXPECT_FALSE(held.Result().ok());
  EXPECT_EQ(held.Result().sqlstate, "57P03") << held.Result().error;

  ExecOk(admin.get(), "RESUME " + db);
  ConnectOutcome after = TryConnect(pgvalve().ClientConnString(db));
  EXPECT_TRUE(after.ok()) << after.error;
}

}  // namespace
}  // namespace pgvalve::test
