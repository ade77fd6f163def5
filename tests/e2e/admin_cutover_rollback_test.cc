// CUTOVER that does not complete, or completes at a cost, against a real
// primary (blue) and its streaming standby (green), each test with a pair
// and a pgvalve of its own: green's replay paused so that the catch-up
// step cannot finish (TIMEOUT, CANCEL CUTOVER), a session left in a
// transaction past GRACE, and the preflight's refusals. A rollback leaves
// app on blue, resumed, with every held request answered by blue and
// green still a standby.

#include <gtest/gtest.h>

#include <iostream>
#include <optional>
#include <string>

#include "tests/e2e/cutover_test_support.h"
#include "tests/support/http_client.h"

namespace pgvalve::test {
namespace {

class CutoverRollbackTest : public CutoverTest {
 protected:
  // Sends `SELECT inet_server_port()` on `session` and waits until
  // pgvalve holds it; false if it never shows as held.
  static bool SendHeldQuery(PGconn* admin, DrainedSession& session) {
    const std::string id = ClientId(admin, session.get());
    SendQuery(session.get(), "SELECT inet_server_port()");
    return WaitUntil([&] { return ClientState(admin, id) == "held"; });
  }

  // Starts CUTOVER app TO green ... NOWAIT (green's replay paused), waits
  // until it waits for the catch-up, then sends a query on `asker` that
  // pgvalve holds. The cutover's id; "" (and a failure) if it got
  // elsewhere.
  std::string StartCutoverHeldAtCatchUp(PGconn* admin, DrainedSession& asker) {
    const ResultTable started = QueryTable(
        admin, "CUTOVER app TO green MODE PHYSICAL PROMOTE GRACE '1s' TIMEOUT '60s' NOWAIT");
    if (started.size() != 1 || started.Text(0, "database") != "app") {
      ADD_FAILURE() << started.ToString();
      return "";
    }
    const std::string id = started.Text(0, "cutover_id");
    const std::optional<CutoverRow> row = WaitForCutover(admin, id, [](const CutoverRow& cutover) {
      return cutover.at("step") == "catch up" || cutover.at("outcome") != "running";
    });
    if (!row || row->at("step") != "catch up") {
      ADD_FAILURE() << "cutover " << id << " never waited for the catch-up: "
                    << (row ? row->at("outcome") + ": " + row->at("error") : std::string("no row"));
      return "";
    }
    if (!SendHeldQuery(admin, asker)) {
      ADD_FAILURE() << "the query was never held\n" << QueryTable(admin, "SHOW CLIENTS").ToString();
      return "";
    }
    return id;
  }

  // The answer to the query SendHeldQuery sent: the port of the server
  // that ran it, or a description of the error.
  static std::string HeldQueryAnswer(DrainedSession& session) {
    const std::optional<QueryOutcome> answer = AwaitOutcome(session.get(), kHangGuard);
    if (!answer) return "no answer within the hang guard";
    if (!answer->ok()) return answer->Describe();
    return answer->table.Text(0, "inet_server_port");
  }

  // What a rollback leaves: app on blue and resumed, green a standby, a
  // new session on blue.
  void ExpectNothingMoved(PGconn* admin) {
    EXPECT_EQ(AppColumn(admin, "upstream"), "blue");
    EXPECT_EQ(AppColumn(admin, "state"), "enabled");
    EXPECT_EQ(AppColumn(admin, "switched_at"), "<NULL>");
    EXPECT_TRUE(green().IsInRecovery());
    PgConn fresh = ConnectClient();
    EXPECT_EQ(ServerPort(fresh.get()), blue().port());
  }

  // The rolled-back error of cutover `id`: its message and DETAIL.
  static void ExpectRolledBackError(const QueryOutcome& outcome, std::string_view id,
                                    std::string_view step) {
    EXPECT_EQ(
        outcome.message.rfind("cutover " + std::string(id) + " of \"app\" rolled back at step \"" +
                                  std::string(step) + "\": ",
                              0),
        0u)
        << outcome.Describe();
    const std::string report = "SHOW CUTOVER " + std::string(id) + " has the report.";
    EXPECT_TRUE(
        outcome.detail.size() >= report.size() &&
        outcome.detail.compare(outcome.detail.size() - report.size(), report.size(), report) == 0)
        << outcome.Describe();
  }
};

// Green cannot replay the marker: after GRACE + TIMEOUT the cutover rolls
// back, and the request it held is answered by blue.
TEST_F(CutoverRollbackTest, CatchUpTimeoutRollsBackAndTheHeldQueryIsAnsweredByBlue) {
  StartServers();
  PauseReplay();
  DrainedSession idle = OpenClient();
  DrainedSession asker = OpenClient();
  ASSERT_EQ(ServerPort(asker.get()), blue().port());
  PgConn admin = ConnectAdmin();

  AdminCommand cutover(pgvalve().AdminConnString(),
                       "CUTOVER app TO green MODE PHYSICAL PROMOTE GRACE '1s' TIMEOUT '3s'");
  std::optional<CutoverRow> running;
  ASSERT_TRUE(WaitUntil([&] {
    running = LatestCutover(admin.get());
    return running && running->at("step") == "catch up";
  })) << (running ? running->at("step") : "no cutover");
  EXPECT_EQ(running->at("outcome"), "running");
  EXPECT_EQ(AppColumn(admin.get(), "state"), "paused");
  ASSERT_TRUE(SendHeldQuery(admin.get(), asker))
      << QueryTable(admin.get(), "SHOW CLIENTS").ToString();

  QueryOutcome& outcome = cutover.Result();
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.sqlstate, "57014") << outcome.Describe();
  ExpectRolledBackError(outcome, running->at("id"), "catch up");
  std::cout << outcome.Describe() << "\n";

  EXPECT_EQ(HeldQueryAnswer(asker), std::to_string(blue().port()));
  EXPECT_EQ(ServerPort(idle.get()), blue().port());
  EXPECT_EQ(asker.DescribeNotices(), "(no notices)");
  EXPECT_EQ(idle.DescribeNotices(), "(no notices)");
  ExpectNothingMoved(admin.get());

  const std::optional<CutoverRow> row = CutoverById(admin.get(), running->at("id"));
  ASSERT_TRUE(row);
  EXPECT_EQ(row->at("outcome"), "rolled back");
  EXPECT_EQ(row->at("error").rfind("catch up", 0), 0u) << row->at("error");
  EXPECT_GE(std::stoll(row->at("held_requests")), 1);
  EXPECT_EQ(row->at("closed"), "0");
  const ResultTable report = QueryTable(admin.get(), "SHOW CUTOVER " + running->at("id"));
  std::cout << report.ToString();
  const std::optional<size_t> outcome_row = ReportRow(report, "outcome");
  ASSERT_TRUE(outcome_row) << report.ToString();
  EXPECT_EQ(report.Text(*outcome_row, "status"), "failed");

  // Green follows blue again once it replays.
  ResumeReplay();
  EXPECT_TRUE(green().IsInRecovery());
}

// The replica goes away while the cutover waits for it to catch up: the
// job rolls back at once (its control connection fails; it does not wait
// for TIMEOUT), the held request is answered by blue, nothing moved.
TEST_F(CutoverRollbackTest, AReplicaStoppedDuringCatchUpRollsBack) {
  StartServers();
  PauseReplay();
  DrainedSession asker = OpenClient();
  PgConn admin = ConnectAdmin();

  const std::string id = StartCutoverHeldAtCatchUp(admin.get(), asker);
  ASSERT_FALSE(id.empty());

  green().StopPostmaster(PgServer::StopMode::kImmediate);
  const std::optional<CutoverRow> row = WaitForCutover(admin.get(), id, [](const CutoverRow& cutover) {
    return cutover.at("outcome") != "running";
  });
  ASSERT_TRUE(row);
  EXPECT_EQ(row->at("outcome"), "rolled back");
  EXPECT_EQ(row->at("error").rfind("catch up", 0), 0u) << row->at("error");

  EXPECT_EQ(HeldQueryAnswer(asker), std::to_string(blue().port()));
  EXPECT_EQ(asker.DescribeNotices(), "(no notices)");
  EXPECT_EQ(AppColumn(admin.get(), "upstream"), "blue");
  EXPECT_EQ(AppColumn(admin.get(), "state"), "enabled");
  EXPECT_EQ(AppColumn(admin.get(), "switched_at"), "<NULL>");
  PgConn fresh = ConnectClient();
  EXPECT_EQ(ServerPort(fresh.get()), blue().port());
}

// CANCEL CUTOVER during the catch-up: rolled back as by a timeout.
TEST_F(CutoverRollbackTest, CancelCutoverDuringCatchUpRollsBack) {
  StartServers();
  PauseReplay();
  DrainedSession asker = OpenClient();
  PgConn admin = ConnectAdmin();

  const std::string id = StartCutoverHeldAtCatchUp(admin.get(), asker);
  ASSERT_FALSE(id.empty());
  // /metrics shows the job where SHOW CUTOVERS does, and what it holds.
  const std::string step = "pgvalve_cutover_step{database=\"app\",step=\"catch up\"}";
  const std::string page = MetricsPage();
  EXPECT_EQ(ExpositionSample(page, step), "1") << page;
  EXPECT_EQ(ExpositionSample(page, "pgvalve_cutover_sessions_remaining{database=\"app\"}"), "1")
      << "the asker is still on blue";
  EXPECT_EQ(ExpositionSample(page, "pgvalve_held_requests{database=\"app\"}"), "1");

  PgResult cancelled = ExecOk(admin.get(), "CANCEL CUTOVER " + id);
  EXPECT_STREQ(PQcmdStatus(cancelled.get()), "CANCEL CUTOVER");
  const std::optional<CutoverRow> row = WaitForCutover(admin.get(), id, [](const CutoverRow& cutover) {
    return cutover.at("outcome") != "running";
  });
  ASSERT_TRUE(row);
  EXPECT_EQ(row->at("outcome"), "rolled back");
  EXPECT_EQ(row->at("error").rfind("catch up", 0), 0u) << row->at("error");
  EXPECT_NE(row->at("error").find("cancel"), std::string::npos) << row->at("error");
  EXPECT_EQ(ExpositionSample(MetricsPage(), step), std::nullopt) << "a job that ended is not running";

  EXPECT_EQ(HeldQueryAnswer(asker), std::to_string(blue().port()));
  EXPECT_EQ(asker.DescribeNotices(), "(no notices)");
  ExpectNothingMoved(admin.get());
  const QueryOutcome again = RunQuery(admin.get(), "CANCEL CUTOVER " + id);
  EXPECT_EQ(again.sqlstate, "55000") << again.Describe();

  ResumeReplay();
}

// THEN TERMINATE (the default): a session still in its transaction when
// GRACE ends is terminated on blue, so its uncommitted row is nowhere.
TEST_F(CutoverRollbackTest, ASessionInATransactionPastGraceIsTerminated) {
  StartServers();
  DrainedSession open = OpenClient();
  ExecOk(open.get(), "BEGIN");
  ExecOk(open.get(), "INSERT INTO t (client, n) VALUES (7, 1)");
  PgConn admin = ConnectAdmin();

  AdminCommand cutover(pgvalve().AdminConnString(),
                       "CUTOVER app TO green MODE PHYSICAL PROMOTE GRACE '1s' TIMEOUT '30s'");
  QueryOutcome& outcome = cutover.Result();
  ASSERT_TRUE(outcome.ok()) << outcome.Describe();
  std::cout << outcome.table.ToString();
  EXPECT_GE(SessionsCount(outcome.table, "terminated"), 1) << outcome.table.ToString();
  const std::optional<CutoverRow> row = LatestCutover(admin.get());
  ASSERT_TRUE(row);
  EXPECT_EQ(row->at("outcome"), "completed");
  EXPECT_GE(std::stoll(row->at("terminated")), 1);

  // Its next statement fails: the FATAL of the termination, or the
  // connection already gone.
  std::string next_statement;
  if (PQsendQuery(open.get(), "INSERT INTO t (client, n) VALUES (7, 2)") != 1) {
    next_statement = "could not be sent: " + ErrorText(open.get());
  } else {
    const std::optional<QueryOutcome> next = AwaitOutcome(open.get(), kHangGuard);
    ASSERT_TRUE(next) << "no answer within the hang guard";
    EXPECT_FALSE(next->ok());
    EXPECT_TRUE(next->sqlstate == "57P01" || PQstatus(open.get()) == CONNECTION_BAD)
        << next->Describe();
    next_statement = next->Describe();
  }
  std::cout << "the terminated session's next statement: " << next_statement
            << "\nits notices: " << open.DescribeNotices() << "\n";

  EXPECT_EQ(blue().QueryScalar("SELECT count(*) FROM t WHERE client = 7", kApp), "0");
  EXPECT_EQ(green().QueryScalar("SELECT count(*) FROM t WHERE client = 7", kApp), "0");
  EXPECT_EQ(AppColumn(admin.get(), "upstream"), "green");
}

// What the preflight refuses changes nothing.
TEST_F(CutoverRollbackTest, PreflightRefusalsChangeNothing) {
  StartServers();
  PgConn admin = ConnectAdmin();

  const QueryOutcome no_promote = RunQuery(admin.get(), "CUTOVER app TO green");
  EXPECT_EQ(no_promote.sqlstate, "55000") << no_promote.Describe();
  EXPECT_NE(no_promote.message.find("PROMOTE"), std::string::npos) << no_promote.Describe();
  ExpectRolledBackError(no_promote, CutoverIdIn(no_promote.message), "preflight");

  const QueryOutcome already = RunQuery(admin.get(), "CUTOVER app TO blue MODE PHYSICAL PROMOTE");
  EXPECT_EQ(already.sqlstate, "55000") << already.Describe();
  EXPECT_NE(already.message.find("already"), std::string::npos) << already.Describe();

  const QueryOutcome nosuch = RunQuery(admin.get(), "CUTOVER app TO nosuch MODE PHYSICAL PROMOTE");
  EXPECT_EQ(nosuch.sqlstate, "42704") << nosuch.Describe();
  EXPECT_NE(nosuch.message.find("nosuch"), std::string::npos) << nosuch.Describe();

  // A logical cutover moves to a subscriber, a primary; green is a standby.
  const QueryOutcome logical = RunQuery(admin.get(), "CUTOVER app TO green MODE LOGICAL");
  EXPECT_EQ(logical.sqlstate, "55000") << logical.Describe();
  EXPECT_NE(logical.message.find("MODE LOGICAL moves to a subscriber"), std::string::npos) << logical.Describe();

  ExpectNothingMoved(admin.get());
  const ResultTable cutovers = QueryTable(admin.get(), "SHOW CUTOVERS");
  std::cout << cutovers.ToString();
  EXPECT_EQ(cutovers.size(), 4u);
  for (size_t row = 0; row < cutovers.size(); ++row) {
    EXPECT_EQ(cutovers.Text(row, "outcome"), "rolled back") << cutovers.ToString();
    EXPECT_EQ(cutovers.Text(row, "step"), "preflight") << cutovers.ToString();
    EXPECT_EQ(cutovers.Text(row, "held_new_sessions"), "0") << cutovers.ToString();
    EXPECT_EQ(cutovers.Text(row, "held_requests"), "0") << cutovers.ToString();
  }
}

}  // namespace
}  // namespace pgvalve::test
