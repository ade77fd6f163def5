// The relay against a real PostgreSQL 15, mostly driven by libpq: simple,
// extended (pipelined) and function-call requests, notifications, errors
// inside transactions, password authentication, protocol negotiation.
// Sessions that end badly are in relay_endings_e2e_test.cc.

#include <gtest/gtest.h>
#include <libpq/libpq-fs.h>
#include <poll.h>

#include <cerrno>
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

class RelayTest : public ProxiedPostgresTest {};

std::string Value(const PGresult* result, int row, int column) {
  return PQgetvalue(result, row, column);
}

// Sends one parameterised query in pipeline mode (text parameters).
void SendParams(PGconn* conn, const std::string& sql, const std::vector<std::string>& values,
                int result_format = 0) {
  std::vector<const char*> pointers;
  for (const std::string& value : values) pointers.push_back(value.c_str());
  ASSERT_EQ(PQsendQueryParams(conn, sql.c_str(), static_cast<int>(pointers.size()), nullptr,
                              pointers.data(), nullptr, nullptr, result_format),
            1)
      << ErrorText(conn);
}

// The next pipeline item: its one result, then the null that ends it.
PgResult PipelineItem(PGconn* conn, const std::string& what) {
  const Deadline deadline = DeadlineAfter(kHangGuard);
  PgResult result = NextResult(conn, deadline, what);
  if (!result) {
    ADD_FAILURE() << "no result for " << what;
    return result;
  }
  PgResult end = NextResult(conn, deadline, "the end of " + what);
  EXPECT_EQ(end, nullptr) << "more than one result for " << what << ": "
                          << PQresStatus(PQresultStatus(end.get()));
  return result;
}

void ExpectSync(PGconn* conn) {
  PgResult sync = NextResult(conn, DeadlineAfter(kHangGuard), "the pipeline's sync");
  ASSERT_NE(sync, nullptr);
  EXPECT_EQ(PQresultStatus(sync.get()), PGRES_PIPELINE_SYNC)
      << PQresStatus(PQresultStatus(sync.get())) << " " << PQresultErrorMessage(sync.get());
}

TEST_F(RelayTest, SimpleQueryReturnsEveryResultSetInOrder) {
  PgConn conn = Connect(ProxyConnString());
  std::vector<PgResult> results = SendAndCollect(
      conn.get(),
      "SELECT 1 AS one;"
      "SELECT NULL::text AS missing, 'x'::text AS present;"
      "CREATE TEMP TABLE relay_simple (id int, note text);"
      "INSERT INTO relay_simple SELECT g, CASE WHEN g % 2 = 0 THEN NULL ELSE 'n' || g END "
      "  FROM generate_series(1, 5) g;"
      "SELECT id, note FROM relay_simple ORDER BY id",
      DeadlineAfter(kHangGuard));
  ASSERT_EQ(results.size(), 5u);

  EXPECT_EQ(PQresultStatus(results[0].get()), PGRES_TUPLES_OK);
  EXPECT_STREQ(PQfname(results[0].get(), 0), "one");
  EXPECT_EQ(Value(results[0].get(), 0, 0), "1");

  ASSERT_EQ(PQresultStatus(results[1].get()), PGRES_TUPLES_OK);
  EXPECT_EQ(PQgetisnull(results[1].get(), 0, 0), 1);
  EXPECT_EQ(PQgetisnull(results[1].get(), 0, 1), 0);
  EXPECT_EQ(Value(results[1].get(), 0, 1), "x");

  EXPECT_EQ(PQresultStatus(results[2].get()), PGRES_COMMAND_OK);
  EXPECT_STREQ(PQcmdStatus(results[2].get()), "CREATE TABLE");
  EXPECT_STREQ(PQcmdStatus(results[3].get()), "INSERT 0 5");

  const PGresult* rows = results[4].get();
  ASSERT_EQ(PQresultStatus(rows), PGRES_TUPLES_OK);
  ASSERT_EQ(PQntuples(rows), 5);
  for (int row = 0; row < 5; ++row) {
    EXPECT_EQ(Value(rows, row, 0), std::to_string(row + 1));
    const bool even = (row + 1) % 2 == 0;
    EXPECT_EQ(PQgetisnull(rows, row, 1), even ? 1 : 0) << "row " << row;
    if (!even) {
      EXPECT_EQ(Value(rows, row, 1), "n" + std::to_string(row + 1));
    }
  }
  EXPECT_EQ(PQtransactionStatus(conn.get()), PQTRANS_IDLE);
}

TEST_F(RelayTest, ErrorEndsAMultiStatementQuery) {
  PgConn conn = Connect(ProxyConnString());
  std::vector<PgResult> results =
      SendAndCollect(conn.get(), "SELECT 1; SELECT 1 / 0; SELECT 3", DeadlineAfter(kHangGuard));
  ASSERT_EQ(results.size(), 2u) << "the statement after the error ran";
  EXPECT_EQ(PQresultStatus(results[0].get()), PGRES_TUPLES_OK);
  EXPECT_EQ(SqlState(results[1].get()), "22012");
  EXPECT_EQ(PQtransactionStatus(conn.get()), PQTRANS_IDLE);
  EXPECT_EQ(ScalarString(conn.get(), "SELECT 4"), "4");
}

TEST_F(RelayTest, EmptyQueryGetsEmptyQueryResponse) {
  PgConn conn = Connect(ProxyConnString());
  EXPECT_EQ(PQresultStatus(Exec(conn.get(), "").get()), PGRES_EMPTY_QUERY);
  EXPECT_EQ(PQresultStatus(Exec(conn.get(), " ; ").get()), PGRES_EMPTY_QUERY);
  EXPECT_EQ(ScalarString(conn.get(), "SELECT 2"), "2");
}

TEST_F(RelayTest, LargeResultSetArrivesWhole) {
  // Far more than one relay buffer, so the rows cross many reads and writes.
  constexpr int kRows = 200'000;
  PgConn conn = Connect(ProxyConnString());
  PgResult result = ExecOk(conn.get(), "SELECT g, md5(g::text) FROM generate_series(1, " +
                                           std::to_string(kRows) + ") g");
  ASSERT_EQ(PQntuples(result.get()), kRows);
  for (int row = 0; row < kRows; ++row) {
    ASSERT_EQ(Value(result.get(), row, 0), std::to_string(row + 1)) << "row " << row;
    ASSERT_EQ(PQgetlength(result.get(), row, 1), 32) << "row " << row;
  }
  EXPECT_EQ(Value(result.get(), 41, 1), ScalarString(conn.get(), "SELECT md5('42')"));
}

TEST_F(RelayTest, NoticesReachTheClient) {
  PgConn conn = Connect(ProxyConnString());
  std::vector<std::string> notices;
  PQsetNoticeReceiver(
      conn.get(),
      [](void* sink, const PGresult* notice) {
        const char* message = PQresultErrorField(notice, PG_DIAG_MESSAGE_PRIMARY);
        static_cast<std::vector<std::string>*>(sink)->push_back(message ? message : "");
      },
      &notices);
  ExecOk(conn.get(), "DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$");
  EXPECT_EQ(notices, std::vector<std::string>{"hello 42"});
}

TEST_F(RelayTest, PipelineReturnsEveryResultInOrder) {
  constexpr int kQueries = 64;
  PgConn conn = Connect(ProxyConnString());
  ASSERT_EQ(PQenterPipelineMode(conn.get()), 1) << ErrorText(conn.get());
  for (int i = 0; i < kQueries; ++i) {
    SendParams(conn.get(), "SELECT $1::int * 2, $2::text",
               {std::to_string(i), "q" + std::to_string(i)});
  }
  // One more asking for a binary result: the format travels in Bind.
  SendParams(conn.get(), "SELECT $1::int4", {"258"}, /*result_format=*/1);
  ASSERT_EQ(PQpipelineSync(conn.get()), 1) << ErrorText(conn.get());

  for (int i = 0; i < kQueries; ++i) {
    PgResult result = PipelineItem(conn.get(), "query " + std::to_string(i));
    ASSERT_NE(result, nullptr);
    ASSERT_EQ(PQresultStatus(result.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(result.get());
    EXPECT_EQ(Value(result.get(), 0, 0), std::to_string(i * 2));
    EXPECT_EQ(Value(result.get(), 0, 1), "q" + std::to_string(i));
  }
  PgResult binary = PipelineItem(conn.get(), "the binary query");
  ASSERT_NE(binary, nullptr);
  ASSERT_EQ(PQresultStatus(binary.get()), PGRES_TUPLES_OK);
  ASSERT_EQ(PQfformat(binary.get(), 0), 1);
  ASSERT_EQ(PQgetlength(binary.get(), 0, 0), 4);
  EXPECT_EQ(std::string(PQgetvalue(binary.get(), 0, 0), 4), std::string("\0\0\x01\x02", 4));
  ExpectSync(conn.get());

  ASSERT_EQ(PQexitPipelineMode(conn.get()), 1) << ErrorText(conn.get());
  EXPECT_EQ(ScalarString(conn.get(), "SELECT 'after the pipeline'"), "after the pipeline");
}

TEST_F(RelayTest, ErrorInPipelineAbortsTheRestUntilSync) {
  PgConn conn = Connect(ProxyConnString());
  ASSERT_EQ(PQenterPipelineMode(conn.get()), 1) << ErrorText(conn.get());
  SendParams(conn.get(), "SELECT $1::int", {"1"});
  SendParams(conn.get(), "SELECT 1 / $1::int", {"0"});
  SendParams(conn.get(), "SELECT $1::int", {"3"});
  SendParams(conn.get(), "SELECT $1::int", {"4"});
  ASSERT_EQ(PQpipelineSync(conn.get()), 1);
  SendParams(conn.get(), "SELECT $1::int", {"5"});
  ASSERT_EQ(PQpipelineSync(conn.get()), 1);

  PgResult first = PipelineItem(conn.get(), "the first query");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(PQresultStatus(first.get()), PGRES_TUPLES_OK);
  EXPECT_EQ(Value(first.get(), 0, 0), "1");

  PgResult failed = PipelineItem(conn.get(), "the division by zero");
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(PQresultStatus(failed.get()), PGRES_FATAL_ERROR);
  EXPECT_EQ(SqlState(failed.get()), "22012");

  for (const char* what : {"the third query", "the fourth query"}) {
    PgResult skipped = PipelineItem(conn.get(), what);
    ASSERT_NE(skipped, nullptr);
    EXPECT_EQ(PQresultStatus(skipped.get()), PGRES_PIPELINE_ABORTED) << what;
  }
  ExpectSync(conn.get());

  // The sync ended the aborted segment: the next one runs.
  PgResult after_sync = PipelineItem(conn.get(), "the query after the sync");
  ASSERT_NE(after_sync, nullptr);
  EXPECT_EQ(PQresultStatus(after_sync.get()), PGRES_TUPLES_OK);
  EXPECT_EQ(Value(after_sync.get(), 0, 0), "5");
  ExpectSync(conn.get());
  ASSERT_EQ(PQexitPipelineMode(conn.get()), 1) << ErrorText(conn.get());

  // And so does a new pipeline.
  ASSERT_EQ(PQenterPipelineMode(conn.get()), 1);
  SendParams(conn.get(), "SELECT $1::text", {"new pipeline"});
  ASSERT_EQ(PQpipelineSync(conn.get()), 1);
  PgResult fresh = PipelineItem(conn.get(), "the new pipeline's query");
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(Value(fresh.get(), 0, 0), "new pipeline");
  ExpectSync(conn.get());
  ASSERT_EQ(PQexitPipelineMode(conn.get()), 1);
}

TEST_F(RelayTest, LongPipelineKeepsBothDirectionsMoving) {
  // Megabytes each way at once: requests keep going up while results come
  // down, as libpq recommends doing it, with a non-blocking connection.
  constexpr int kQueries = 20'000;
  constexpr int kBatch = 500;
  PgConn conn = Connect(ProxyConnString());
  PGconn* c = conn.get();
  ASSERT_EQ(PQsetnonblocking(c, 1), 0);
  ASSERT_EQ(PQenterPipelineMode(c), 1);
  const Deadline deadline = DeadlineAfter(kHangGuard);

  int sent = 0;
  int completed = 0;           // queries whose result and closing null were read
  bool awaiting_null = false;  // a query's result was read, its null not yet
  bool sync_sent = false;
  bool sync_seen = false;
  while (!sync_seen) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "hang guard: " << completed << " of " << kQueries << " results after "
        << kHangGuard.count() << " s";
    int pending = PQflush(c);
    ASSERT_GE(pending, 0) << ErrorText(c);
    // More requests only once libpq's buffer has drained, so it stays small.
    if (pending == 0 && !sync_sent) {
      for (int i = 0; i < kBatch && sent < kQueries; ++i, ++sent) {
        SendParams(c, "SELECT $1::int, repeat('r', 200)", {std::to_string(sent)});
      }
      if (sent == kQueries) {
        ASSERT_EQ(PQpipelineSync(c), 1) << ErrorText(c);
        sync_sent = true;
      }
      pending = PQflush(c);
      ASSERT_GE(pending, 0) << ErrorText(c);
    }
    const bool more_to_queue = pending == 0 && !sync_sent;
    pollfd fd{PQsocket(c), static_cast<short>(POLLIN | (pending == 1 ? POLLOUT : 0)), 0};
    ASSERT_GE(::poll(&fd, 1, more_to_queue ? 0 : 1000), 0) << "poll: errno " << errno;
    ASSERT_EQ(PQconsumeInput(c), 1) << ErrorText(c);

    while (!sync_seen && !PQisBusy(c)) {
      const bool outstanding = awaiting_null || completed < sent || sync_sent;
      if (!outstanding) break;
      PgResult result(PQgetResult(c));
      if (!result) {
        ASSERT_TRUE(awaiting_null) << "a null without a result, after query " << completed;
        awaiting_null = false;
        ++completed;
        continue;
      }
      if (PQresultStatus(result.get()) == PGRES_PIPELINE_SYNC) {
        ASSERT_EQ(completed, kQueries);
        sync_seen = true;
        break;
      }
      ASSERT_EQ(PQresultStatus(result.get()), PGRES_TUPLES_OK)
          << PQresultErrorMessage(result.get());
      ASSERT_EQ(Value(result.get(), 0, 0), std::to_string(completed));
      ASSERT_EQ(PQgetlength(result.get(), 0, 1), 200);
      awaiting_null = true;
    }
  }
  ASSERT_EQ(PQsetnonblocking(c, 0), 0);
  ASSERT_EQ(PQexitPipelineMode(c), 1) << ErrorText(c);
  EXPECT_EQ(ScalarString(c, "SELECT 'after the long pipeline'"), "after the long pipeline");
}

TEST_F(RelayTest, LargeObjectsTravelAsFunctionCalls) {
  // libpq's lo_* functions use the FunctionCall message ('F'), answered
  // with FunctionCallResponse ('V'): a request the relay must count like a
  // Query. A megabyte each way.
  PgConn conn = Connect(ProxyConnString());
  PGconn* c = conn.get();
  ExecOk(c, "BEGIN");
  const Oid oid = lo_creat(c, INV_READ | INV_WRITE);
  ASSERT_NE(oid, InvalidOid) << ErrorText(c);
  const int fd = lo_open(c, oid, INV_READ | INV_WRITE);
  ASSERT_GE(fd, 0) << ErrorText(c);
  std::string data;
  for (int i = 0; data.size() < (1u << 20); ++i) data += "chunk " + std::to_string(i) + ";";
  ASSERT_EQ(lo_write(c, fd, data.data(), data.size()), static_cast<int>(data.size()))
      << ErrorText(c);
  ASSERT_EQ(lo_lseek64(c, fd, 0, SEEK_SET), 0) << ErrorText(c);
  std::string back(data.size(), '\0');
  ASSERT_EQ(lo_read(c, fd, back.data(), back.size()), static_cast<int>(back.size()))
      << ErrorText(c);
  EXPECT_TRUE(back == data) << "the large object came back different";
  EXPECT_EQ(lo_close(c, fd), 0) << ErrorText(c);
  EXPECT_EQ(lo_unlink(c, oid), 1) << ErrorText(c);
  ExecOk(c, "COMMIT");
  EXPECT_EQ(PQtransactionStatus(c), PQTRANS_IDLE);
}

TEST_F(RelayTest, NotificationReachesTheListeningSession) {
  PgConn listener = Connect(ProxyConnString());
  PgConn notifier = Connect(ProxyConnString());
  ExecOk(listener.get(), "LISTEN relay_channel");

  // Longer than most notifications, still under the server's 8000 bytes.
  const std::string payload = "payload:" + std::string(6000, 'p') + ":end";
  const char* values[] = {payload.c_str()};
  PgResult sent(PQexecParams(notifier.get(), "SELECT pg_notify('relay_channel', $1)", 1, nullptr,
                             values, nullptr, nullptr, 0));
  ASSERT_EQ(PQresultStatus(sent.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(sent.get());

  PgNotify notify = NextNotification(listener.get(), DeadlineAfter(30s));
  ASSERT_NE(notify, nullptr);
  EXPECT_STREQ(notify->relname, "relay_channel");
  EXPECT_EQ(std::string(notify->extra), payload);
  // The sender as its own client knows it (the virtual pid through pgvalve).
  EXPECT_EQ(notify->be_pid, PQbackendPID(notifier.get()));
  EXPECT_EQ(ScalarString(listener.get(), "SELECT 'still usable'"), "still usable");
}

// A client recognises a notification as its own, or another session's, by
// comparing be_pid with PQbackendPID(): through pgvalve that is the virtual
// pid, so the pid in NotificationResponse must be too. A backend pgvalve
// has no session on keeps its real pid.
TEST_F(RelayTest, NotificationNamesTheNotifierByThePidItsClientKnows) {
  PgConn listener = Connect(ProxyConnString());
  PgConn notifier = Connect(ProxyConnString());
  PgConn direct = Connect(DirectConnString());
  ExecOk(listener.get(), "LISTEN relay_pids");
  ExecOk(listener.get(), "NOTIFY relay_pids, 'self'");
  ExecOk(notifier.get(), "NOTIFY relay_pids, 'other'");
  ExecOk(direct.get(), "NOTIFY relay_pids, 'direct'");

  std::map<std::string, int> pid_of;
  for (int i = 0; i < 3; ++i) {
    PgNotify notify = NextNotification(listener.get(), DeadlineAfter(30s));
    ASSERT_NE(notify, nullptr);
    EXPECT_STREQ(notify->relname, "relay_pids");
    pid_of[notify->extra] = notify->be_pid;
  }
  EXPECT_EQ(pid_of["self"], PQbackendPID(listener.get())) << "its own notification";
  EXPECT_EQ(pid_of["other"], PQbackendPID(notifier.get()));
  EXPECT_EQ(pid_of["direct"], PQbackendPID(direct.get()));
  EXPECT_EQ(std::to_string(pid_of["direct"]), ScalarString(direct.get(), "SELECT pg_backend_pid()"));
}

// The same, byte by byte: the NotificationResponse's Int32 pid is the one
// the client got in BackendKeyData, and the rest of the message is intact.
TEST_F(RelayTest, RawNotificationCarriesThePidFromBackendKeyData) {
  RawConnection raw = RawConnection::ConnectTcp(ProxyPort());
  std::optional<CancelKey> key = FindBackendKey(
      raw.Start({{"user", std::string(kSuperuser)}, {"database", "postgres"}}, DeadlineAfter(30s)));
  ASSERT_TRUE(key.has_value()) << "no BackendKeyData";
  raw.Send(QueryMessage("LISTEN relay_raw"));
  raw.ReadUntilReady(DeadlineAfter(30s));
  raw.Send(QueryMessage("NOTIFY relay_raw, 'raw payload'"));

  std::optional<BackendMessage> notification;
  std::string tags;
  // PostgreSQL delivers a backend's own notification before its
  // ReadyForQuery; read on until both came.
  while (!notification || tags.find('Z') == std::string::npos) {
    std::optional<BackendMessage> message = raw.ReadMessage(DeadlineAfter(30s));
    ASSERT_TRUE(message.has_value()) << "the connection ended after " << tags;
    tags += message->tag;
    if (message->tag == 'A') notification = std::move(message);
  }
  ASSERT_GE(notification->body.size(), 4u);
  EXPECT_EQ(LoadInt32(notification->body.data()), key->pid);
  EXPECT_EQ(notification->body.substr(4), std::string("relay_raw\0raw payload\0", 22));
}

TEST_F(RelayTest, LongErrorMessageArrivesWhole) {
  // Several relay buffers long: an ErrorResponse is streamed like any other
  // message.
  PgConn conn = Connect(ProxyConnString());
  PgResult result = Exec(conn.get(),
                         "DO $$ BEGIN RAISE EXCEPTION 'long:%:end', repeat('e', 100000) "
                         "USING ERRCODE = 'P0042'; END $$");
  EXPECT_EQ(PQresultStatus(result.get()), PGRES_FATAL_ERROR);
  EXPECT_EQ(SqlState(result.get()), "P0042");
  const char* message = PQresultErrorField(result.get(), PG_DIAG_MESSAGE_PRIMARY);
  ASSERT_NE(message, nullptr);
  EXPECT_EQ(std::string(message), "long:" + std::string(100000, 'e') + ":end");
  EXPECT_EQ(ScalarString(conn.get(), "SELECT 'after'"), "after");
}

TEST_F(RelayTest, ErrorAbortsTransactionUntilRollback) {
  PgConn conn = Connect(ProxyConnString());
  ExecOk(conn.get(), "BEGIN");
  PgResult division = Exec(conn.get(), "SELECT 1 / 0");
  EXPECT_EQ(PQresultStatus(division.get()), PGRES_FATAL_ERROR);
  EXPECT_EQ(SqlState(division.get()), "22012");
  EXPECT_EQ(PQtransactionStatus(conn.get()), PQTRANS_INERROR);

  PgResult refused = Exec(conn.get(), "SELECT 1");
  EXPECT_EQ(SqlState(refused.get()), "25P02");

  PgResult rollback = ExecOk(conn.get(), "ROLLBACK");
  EXPECT_STREQ(PQcmdStatus(rollback.get()), "ROLLBACK");
  EXPECT_EQ(PQtransactionStatus(conn.get()), PQTRANS_IDLE);
  EXPECT_EQ(ScalarString(conn.get(), "SELECT 40 + 2"), "42");

  // A transaction after the rollback commits normally.
  ExecOk(conn.get(), "BEGIN");
  ExecOk(conn.get(), "CREATE TEMP TABLE relay_after_rollback (v int)");
  ExecOk(conn.get(), "INSERT INTO relay_after_rollback VALUES (7)");
  ExecOk(conn.get(), "COMMIT");
  EXPECT_EQ(ScalarString(conn.get(), "SELECT v FROM relay_after_rollback"), "7");
}

TEST_F(RelayTest, ScramUserLogsIn) {
  PgConn conn =
      Connect(ProxyConnString("postgres", kScramUser, "password=" + std::string(kScramPassword)));
  EXPECT_EQ(ScalarString(conn.get(), "SELECT current_user"), kScramUser);
}

TEST_F(RelayTest, Md5UserLogsIn) {
  PgConn conn =
      Connect(ProxyConnString("postgres", kMd5User, "password=" + std::string(kMd5Password)));
  EXPECT_EQ(ScalarString(conn.get(), "SELECT current_user"), kMd5User);
}

TEST_F(RelayTest, WrongPasswordIsRefusedWith28P01) {
  for (std::string_view user : {kScramUser, kMd5User}) {
    ConnectOutcome outcome = TryConnect(ProxyConnString("postgres", user, "password=wrong"));
    EXPECT_FALSE(outcome.ok()) << user;
    EXPECT_EQ(outcome.sqlstate, "28P01") << user << ": " << outcome.error;
    EXPECT_NE(outcome.error.find("password authentication failed for user \"" + std::string(user)),
              std::string::npos)
        << outcome.error;
  }
}

TEST_F(RelayTest, UnknownDatabaseIsRefusedByTheServer) {
  ConnectOutcome outcome = TryConnect(ProxyConnString("no_such_database"));
  EXPECT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.sqlstate, "3D000") << outcome.error;
  EXPECT_NE(outcome.error.find("database \"no_such_database\" does not exist"), std::string::npos)
      << outcome.error;
}

TEST_F(RelayTest, NewerMinorProtocolVersionIsNegotiatedByTheServer) {
  // Protocol 3.1 with an option the server does not know: PostgreSQL 15
  // answers NegotiateProtocolVersion (3.0, and the option it ignored) and
  // carries on. The relay passes both ways untouched.
  RawConnection raw = RawConnection::ConnectTcp(ProxyPort());
  std::vector<BackendMessage> startup = raw.Start(
      {{"user", std::string(kSuperuser)}, {"database", "postgres"}, {"_pq_.e2e_probe", "1"}},
      DeadlineAfter(30s), kProtocolVersion30 + 1);
  ASSERT_FALSE(startup.empty());
  ASSERT_EQ(startup.front().tag, 'v') << "no NegotiateProtocolVersion first";
  const std::string& body = startup.front().body;
  ASSERT_GE(body.size(), 8u);
  // PostgreSQL sends its newest version whole (3.0), not just the minor.
  EXPECT_EQ(LoadInt32(body.data()), kProtocolVersion30) << "newest version";
  EXPECT_EQ(LoadInt32(body.data() + 4), 1) << "number of options not recognised";
  EXPECT_EQ(body.substr(8), std::string("_pq_.e2e_probe\0", 15));
  EXPECT_TRUE(FindBackendKey(startup).has_value());

  raw.Send(QueryMessage("SELECT 'negotiated'"));
  EXPECT_EQ(TagsOf(raw.ReadUntilReady(DeadlineAfter(30s))), "TDCZ");
}

}  // namespace
}  // namespace pgvalve::test
