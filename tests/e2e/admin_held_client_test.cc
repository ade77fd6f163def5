// A client that leaves while PAUSE holds it: its session ends at once, and
// with it its backend, rather than both waiting for RESUME or hold_timeout.
// hold_timeout is ten minutes here, so only noticing the client's leaving
// can pass these tests in time.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <string>

#include "tests/e2e/admin_test_support.h"

namespace pgvalve::test {

AdminPgvalveOptions SharedPgvalveOptions(const PgServer&) {
  AdminPgvalveOptions options;
  options.hold_timeout = "10m";
  return options;
}

namespace {

using namespace std::chrono_literals;

// Far below hold_timeout, far above what ending a session takes.
constexpr std::chrono::seconds kPromptly{20};

// How a client leaves: its socket shut down without a word (a process
// killed, a network gone), or libpq's PQfinish, which sends Terminate
// first and then closes.
enum class Leaving { kSocketShutDown, kPQfinish };

class HeldClientTest : public AdminConsoleTest {
 protected:
  // PAUSE of a database without transactions returns at once. FORCE for
  // a database nobody has connected to yet.
  static void Pause(PGconn* admin, const std::string& db, bool force = false) {
    Background<QueryOutcome> pause = QueryInBackground(admin, "PAUSE " + db + (force ? " FORCE" : ""));
    ASSERT_TRUE(pause.WaitFor(kHangGuard)) << "PAUSE of a quiet database did not return";
    ASSERT_TRUE(pause.Result().ok()) << pause.Result().Describe();
  }

  static bool ClientListed(PGconn* admin, std::string_view client_id) {
    return ClientState(admin, client_id) != "<no such client>";
  }

  // Holds a request of a session on a fresh database, lets its client
  // leave, and expects the session and its backend gone well before
  // hold_timeout.
  void ExpectBackendReleasedWhenHeldClientLeaves(Leaving leaving);
};

void HeldClientTest::ExpectBackendReleasedWhenHeldClientLeaves(Leaving leaving) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  PgConn direct = ConnectDirect("postgres");
  PgConn client = ConnectClient(db);
  const std::string id = ClientId(admin.get(), client.get());
  const int32_t backend_pid = BackendPid(client.get());
  ASSERT_TRUE(BackendListed(direct.get(), backend_pid));
  ASSERT_NO_FATAL_FAILURE(Pause(admin.get(), db));

  ASSERT_EQ(PQsendQuery(client.get(), "SELECT 'never run'"), 1) << PQerrorMessage(client.get());
  ASSERT_TRUE(WaitForClientState(admin.get(), id, "held")) << ShowClients(admin.get()).ToString();
  ASSERT_EQ(DatabaseColumn(admin.get(), db, "held"), "1");

  if (leaving == Leaving::kSocketShutDown) {
    ASSERT_EQ(shutdown(PQsocket(client.get()), SHUT_RDWR), 0);
  } else {
    client.reset();
  }

  EXPECT_TRUE(WaitUntil([&] { return !ClientListed(admin.get(), id); }, kPromptly))
      << "the session stayed after its client left:\n"
      << ShowClients(admin.get()).ToString();
  EXPECT_TRUE(WaitUntil([&] { return !BackendListed(direct.get(), backend_pid); }, kPromptly))
      << "backend " << backend_pid << " outlived its client";
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "held"), "0");
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "state"), "paused") << "the database stays paused";

  ExecOk(admin.get(), "RESUME " + db);
  PgConn next = ConnectClient(db);
  EXPECT_EQ(ScalarString(next.get(), "SELECT 'after resume'"), "after resume");
}

TEST_F(HeldClientTest, ClientWhoseSocketIsShutDownWhileHeldReleasesItsBackend) {
  ExpectBackendReleasedWhenHeldClientLeaves(Leaving::kSocketShutDown);
}

TEST_F(HeldClientTest, ClientThatFinishesWhileHeldReleasesItsBackend) {
  ExpectBackendReleasedWhenHeldClientLeaves(Leaving::kPQfinish);
}

// Drives a non-blocking libpq connection until it has sent its startup
// packet and waits for the answer. TLS and GSS are off so that the startup
// packet is the only thing it sends.
PgConn StartConnecting(const std::string& conninfo) {
  PgConn conn(PQconnectStart(conninfo.c_str()));
  if (!conn || PQstatus(conn.get()) == CONNECTION_BAD) {
    throw std::runtime_error("PQconnectStart failed: " + std::string(PQerrorMessage(conn.get())));
  }
  const auto deadline = std::chrono::steady_clock::now() + kHangGuard;
  PostgresPollingStatusType polling = PGRES_POLLING_WRITING;
  while (polling != PGRES_POLLING_READING || PQstatus(conn.get()) != CONNECTION_AWAITING_RESPONSE) {
    if (polling == PGRES_POLLING_FAILED || polling == PGRES_POLLING_OK) {
      throw std::runtime_error("the connection did not wait for the server: " +
                               std::string(PQerrorMessage(conn.get())));
    }
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("connecting hung");
    pollfd fd{.fd = PQsocket(conn.get()),
              .events = static_cast<short>(polling == PGRES_POLLING_READING ? POLLIN : POLLOUT),
              .revents = 0};
    if (poll(&fd, 1, 100) > 0) polling = PQconnectPoll(conn.get());
  }
  return conn;
}

TEST_F(HeldClientTest, NewSessionWhoseClientGivesUpWhileHeldEndsAtOnce) {
  const std::string db = FreshDatabase();
  PgConn admin = ConnectAdmin();
  ASSERT_NO_FATAL_FAILURE(Pause(admin.get(), db, /*force=*/true));

  PgConn client =
      StartConnecting(pgvalve().ClientConnString(db, kSuperuser, "sslmode=disable gssencmode=disable"));
  ASSERT_TRUE(WaitUntil([&] { return DatabaseColumn(admin.get(), db, "held") == "1"; }))
      << "the new session was not held";
  const ResultTable clients = ShowClients(admin.get());
  const std::optional<size_t> row = clients.FindRow("database", db);
  ASSERT_TRUE(row.has_value()) << clients.ToString();
  const std::string id = clients.Text(*row, "id");
  EXPECT_EQ(clients.Text(*row, "state"), "held");

  client.reset();  // closes the socket

  EXPECT_TRUE(WaitUntil([&] { return !ClientListed(admin.get(), id); }, kPromptly))
      << "the session stayed after its client left:\n"
      << ShowClients(admin.get()).ToString();
  EXPECT_EQ(DatabaseColumn(admin.get(), db, "held"), "0");

  ExecOk(admin.get(), "RESUME " + db);
  PgConn next = ConnectClient(db);
  EXPECT_EQ(ScalarString(next.get(), "SELECT 'after resume'"), "after resume");
}

}  // namespace
}  // namespace pgvalve::test
