// Relayed sessions that end badly, against a real PostgreSQL 15: the
// backend is terminated, the client vanishes without a Terminate, or the
// client sends a malformed message. Part of the relay_e2e_test binary.

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/e2e/libpq_waits.h"
#include "tests/e2e/raw_connection.h"
#include "tests/support/e2e_environment.h"
#include "tests/support/libpq_helpers.h"

namespace pgvalve::test {
namespace {

using namespace std::chrono_literals;

class SessionEndTest : public ProxiedPostgresTest {};

TEST_F(SessionEndTest, TerminatedBackendEndsTheClientSession) {
  PgConn conn = Connect(ProxyConnString());
  const std::string backend_pid = ScalarString(conn.get(), "SELECT pg_backend_pid()");
  PgConn monitor = Connect(pg().SocketConnString());
  ExecOk(monitor.get(), "SELECT pg_terminate_backend(" + backend_pid + ")");
  ASSERT_TRUE(PollUntil(
      [&] {
        return ScalarString(monitor.get(), "SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                                               backend_pid) == "0";
      },
      DeadlineAfter(30s)));

  // The server's FATAL reaches the client, then the connection is gone.
  PgResult result = Exec(conn.get(), "SELECT 1");
  EXPECT_EQ(PQresultStatus(result.get()), PGRES_FATAL_ERROR);
  EXPECT_NE(std::string(PQerrorMessage(conn.get()))
                .find("terminating connection due to administrator command"),
            std::string::npos)
      << PQerrorMessage(conn.get());
  EXPECT_EQ(PQstatus(conn.get()), CONNECTION_BAD);

  PgConn next = Connect(ProxyConnString());
  EXPECT_EQ(ScalarString(next.get(), "SELECT 'next'"), "next");
}

TEST_F(SessionEndTest, ClientThatVanishesReleasesItsBackend) {
  struct Scenario {
    const char* what;
    bool in_transaction;
    std::string last_words;  // sent after the last complete exchange
  };
  const Scenario scenarios[] = {
      {"idle", false, ""},
      {"inside a transaction block", true, ""},
      {"halfway through a message", false, std::string("Q\0\0\0\x20SELE", 9)},
      // About a gigabyte if nobody stopped it; the client reads none of it.
      {"while a large result streams", false,
       QueryMessage("SELECT repeat('x', 1024) FROM generate_series(1, 1000000)")},
  };
  PgConn monitor = Connect(pg().SocketConnString());
  const std::string count_sql =
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'relay_vanish'";
  for (const Scenario& scenario : scenarios) {
    {
      RawConnection raw = RawConnection::ConnectTcp(ProxyPort());
      raw.Start({{"user", std::string(kSuperuser)},
                 {"database", "postgres"},
                 {"application_name", "relay_vanish"}},
                DeadlineAfter(30s));
      if (scenario.in_transaction) {
        raw.Send(QueryMessage("BEGIN"));
        raw.ReadUntilReady(DeadlineAfter(30s));
      }
      if (!scenario.last_words.empty()) raw.Send(scenario.last_words);
      ASSERT_EQ(ScalarString(monitor.get(), count_sql), "1") << scenario.what;
    }  // closed without a Terminate
    EXPECT_TRUE(PollUntil([&] { return ScalarString(monitor.get(), count_sql) == "0"; },
                          DeadlineAfter(10s)))
        << "the backend outlived its client (" << scenario.what << ")";
  }
}

TEST_F(SessionEndTest, MalformedMessageClosesOnlyThatConnection) {
  PgConn bystander = Connect(ProxyConnString());
  // Running while the other client misbehaves.
  ASSERT_EQ(PQsendQuery(bystander.get(), "SELECT pg_sleep(0.5), 'bystander'"), 1);

  RawConnection raw = RawConnection::ConnectTcp(ProxyPort());
  raw.Start({{"user", std::string(kSuperuser)}, {"database", "postgres"}}, DeadlineAfter(30s));
  // A Query whose length field (2) is less than the 4 bytes it counts.
  raw.Send(std::string("Q\0\0\0\x02", 5));

  std::optional<BackendMessage> reply = raw.ReadMessage(DeadlineAfter(30s));
  if (TargetIsDirect()) {
    // PostgreSQL only logs "invalid message length" and hangs up.
    EXPECT_FALSE(reply.has_value());
  } else {
    ASSERT_TRUE(reply.has_value()) << "pgvalve closed without an ErrorResponse";
    ASSERT_EQ(reply->tag, 'E');
    std::map<char, std::string> fields = ErrorFields(reply->body);
    EXPECT_EQ(fields['S'], "FATAL");
    EXPECT_EQ(fields['C'], "08P01") << fields['M'];
    EXPECT_TRUE(raw.WaitForClose(DeadlineAfter(30s))) << "the connection stayed open";
  }

  std::vector<PgResult> results;
  while (PgResult result = NextResult(bystander.get(), DeadlineAfter(kHangGuard))) {
    results.push_back(std::move(result));
  }
  ASSERT_EQ(results.size(), 1u);
  ASSERT_EQ(PQresultStatus(results[0].get()), PGRES_TUPLES_OK)
      << PQresultErrorMessage(results[0].get());
  EXPECT_STREQ(PQgetvalue(results[0].get(), 0, 1), "bystander");
  EXPECT_EQ(ScalarString(bystander.get(), "SELECT 'after'"), "after");
  // New sessions are still welcome.
  PgConn newcomer = Connect(ProxyConnString());
  EXPECT_EQ(ScalarString(newcomer.get(), "SELECT 1"), "1");
}

TEST_F(SessionEndTest, RequestBeforeAMalformedMessageIsStillAnswered) {
  // PostgreSQL answers a request it read before a malformed message, then
  // hangs up; through pgvalve the client must get the same: the answer to
  // its INSERT, then FATAL 08P01, so it knows the statement committed.
  //
  // A valid Query and, in the same packet, a message with a broken length.
  PgConn monitor = Connect(pg().SocketConnString());
  ExecOk(monitor.get(), "CREATE TABLE relay_before_violation (v int)");
  RawConnection raw = RawConnection::ConnectTcp(ProxyPort());
  raw.Start({{"user", std::string(kSuperuser)}, {"database", "postgres"}}, DeadlineAfter(30s));
  raw.Send(QueryMessage("INSERT INTO relay_before_violation VALUES (1)") +
           std::string("Q\0\0\0\x02", 5));

  std::vector<BackendMessage> replies;
  while (std::optional<BackendMessage> message = raw.ReadMessage(DeadlineAfter(30s))) {
    replies.push_back(std::move(*message));
  }
  // The server may still be finishing it when pgvalve has hung up.
  EXPECT_TRUE(PollUntil(
      [&] {
        return ScalarString(monitor.get(), "SELECT count(*) FROM relay_before_violation") == "1";
      },
      DeadlineAfter(10s)))
      << "the INSERT did not run";
  const std::string tags = TagsOf(replies);
  // PostgreSQL answers the INSERT and hangs up; pgvalve adds its FATAL.
  EXPECT_EQ(tags, TargetIsDirect() ? "CZ" : "CZE");
  if (!TargetIsDirect() && !replies.empty() && replies.back().tag == 'E') {
    EXPECT_EQ(ErrorFields(replies.back().body)['C'], "08P01");
  }
  ExecOk(monitor.get(), "DROP TABLE relay_before_violation");
}

}  // namespace
}  // namespace pgvalve::test
