// What pgvalve's session registry knows about sessions relayed to a real
// PostgreSQL 15: the virtual pid each client is given and the backend it
// maps to, the session's state as it goes through transactions, and its
// removal once the client leaves. The registry is internal to the pgvalve
// binary, so the ProxyServer runs in this process.

#include <gtest/gtest.h>

#include <exception>
#include <memory>
#include <string>

#include "proxy/database_gate.h"
#include "proxy/session_state.h"
#include "tests/e2e/in_process_proxy.h"
#include "tests/e2e/libpq_waits.h"
#include "tests/support/libpq_helpers.h"
#include "tests/support/pg_server.h"

namespace pgvalve::test {
namespace {

using namespace std::chrono_literals;
using proxy::SessionRecord;
using proxy::SessionState;

constexpr int32_t kFirstVirtualPid = 1 << 30;

struct PgCancelFreer {
  void operator()(PGcancel* cancel) const noexcept { PQfreeCancel(cancel); }
};

class RegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      pg_ = std::make_unique<PgServer>();
      proxy_ = std::make_unique<InProcessProxy>(pg_->host(), pg_->port());
    } catch (const std::exception& error) {
      startup_error_ = error.what();
    }
  }
  static void TearDownTestSuite() {
    proxy_.reset();
    pg_.reset();
  }

  void SetUp() override { ASSERT_NE(proxy_, nullptr) << "could not start: " << startup_error_; }
  // Every test closes its clients; their sessions must be gone before the
  // next test counts them.
  void TearDown() override {
    EXPECT_TRUE(PollUntil([] { return registry().size() == 0; }, DeadlineAfter(10s)))
        << registry().size() << " sessions outlived their clients";
  }

  static proxy::SessionRegistry& registry() { return proxy_->server().sessions(); }

  static PgConn ConnectThroughProxy(std::string_view user = kSuperuser,
                                    std::string_view extra = "") {
    return Connect(proxy_->ConnString("postgres", user, extra));
  }

  // The record of the session `conn` is connected to, found by the pid
  // libpq was given.
  static std::shared_ptr<SessionRecord> RecordOf(PGconn* conn) {
    return registry().FindByVirtualPid(PQbackendPID(conn));
  }

  // Waits until the record shows `state`; on failure says what it showed.
  static ::testing::AssertionResult StateBecomes(const SessionRecord& record, SessionState state) {
    if (PollUntil([&] { return record.state() == state; }, DeadlineAfter(3s))) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "state is \"" << proxy::SessionStateName(record.state()) << "\", expected \""
           << proxy::SessionStateName(state) << "\"";
  }

  static std::unique_ptr<PgServer> pg_;
  static std::unique_ptr<InProcessProxy> proxy_;
  static std::string startup_error_;
};

std::unique_ptr<PgServer> RegistryTest::pg_;
std::unique_ptr<InProcessProxy> RegistryTest::proxy_;
std::string RegistryTest::startup_error_;

TEST_F(RegistryTest, VirtualPidMapsToTheRealBackendPid) {
  PgConn first = ConnectThroughProxy(kSuperuser);
  PgConn second = ConnectThroughProxy(kAppUser);
  for (PGconn* conn : {first.get(), second.get()}) {
    const int32_t virtual_pid = PQbackendPID(conn);
    const int32_t backend_pid = std::stoi(ScalarString(conn, "SELECT pg_backend_pid()"));
    EXPECT_NE(virtual_pid, backend_pid);
    EXPECT_GE(virtual_pid, kFirstVirtualPid);

    std::shared_ptr<SessionRecord> record = registry().FindByVirtualPid(virtual_pid);
    ASSERT_NE(record, nullptr) << "no session with virtual pid " << virtual_pid;
    EXPECT_EQ(record->virtual_pid(), virtual_pid);
    EXPECT_EQ(record->backend_pid(), backend_pid);
    EXPECT_EQ(record->identity().user, PQuser(conn));
    EXPECT_EQ(record->identity().database, "postgres");
    EXPECT_EQ(record->upstream(), "main");

    std::shared_ptr<SessionRecord> by_backend = registry().FindByBackendPid(backend_pid);
    ASSERT_NE(by_backend, nullptr);
    EXPECT_EQ(by_backend->id(), record->id());
  }
  EXPECT_NE(PQbackendPID(first.get()), PQbackendPID(second.get()));
  EXPECT_EQ(registry().size(), 2u);
}

TEST_F(RegistryTest, CancelIsRoutedToTheMappedBackend) {
  PgConn target = ConnectThroughProxy(kSuperuser, "application_name=registry_cancel");
  PgConn bystander = ConnectThroughProxy();
  ASSERT_EQ(PQsendQuery(target.get(), "SELECT pg_sleep(60)"), 1);
  PgConn monitor = Connect(pg_->SocketConnString());
  ASSERT_TRUE(PollUntil(
      [&] {
        return ScalarString(monitor.get(),
                            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
                            "application_name = 'registry_cancel'") == "1";
      },
      DeadlineAfter(30s)));

  std::unique_ptr<PGcancel, PgCancelFreer> cancel(PQgetCancel(target.get()));
  char error[256] = {};
  ASSERT_EQ(PQcancel(cancel.get(), error, sizeof(error)), 1) << error;
  PgResult result = NextResult(target.get(), DeadlineAfter(kHangGuard), "the cancelled query");
  ASSERT_NE(result, nullptr);
  EXPECT_EQ(SqlState(result.get()), "57014") << PQresultErrorMessage(result.get());
  EXPECT_EQ(NextResult(target.get(), DeadlineAfter(kHangGuard)), nullptr);
  EXPECT_EQ(ScalarString(bystander.get(), "SELECT 'untouched'"), "untouched");
}

TEST_F(RegistryTest, RecordAndCancelKeyGoWithTheClient) {
  int32_t virtual_pid = 0;
  {
    PgConn conn = ConnectThroughProxy();
    virtual_pid = PQbackendPID(conn.get());
    ASSERT_NE(registry().FindByVirtualPid(virtual_pid), nullptr);
    EXPECT_EQ(proxy_->server().cancel_keys().size(), 1u);
  }
  EXPECT_TRUE(PollUntil(
      [&] {
        return registry().FindByVirtualPid(virtual_pid) == nullptr &&
               proxy_->server().cancel_keys().size() == 0;
      },
      DeadlineAfter(10s)));
}

TEST_F(RegistryTest, StateFollowsTheTransaction) {
  PgConn conn = ConnectThroughProxy();
  std::shared_ptr<SessionRecord> record = RecordOf(conn.get());
  ASSERT_NE(record, nullptr);
  EXPECT_TRUE(StateBecomes(*record, SessionState::kIdle));

  ExecOk(conn.get(), "BEGIN");
  EXPECT_TRUE(StateBecomes(*record, SessionState::kIdleInTransaction));
  Exec(conn.get(), "SELECT 1 / 0");
  EXPECT_TRUE(StateBecomes(*record, SessionState::kIdleInFailedTransaction));
  ExecOk(conn.get(), "ROLLBACK");
  EXPECT_TRUE(StateBecomes(*record, SessionState::kIdle));

  ASSERT_EQ(PQsendQuery(conn.get(), "SELECT pg_sleep(0.5)"), 1);
  EXPECT_TRUE(StateBecomes(*record, SessionState::kActive));
  while (NextResult(conn.get(), DeadlineAfter(kHangGuard))) {
  }
  EXPECT_TRUE(StateBecomes(*record, SessionState::kIdle));

  // An extended-protocol batch is active until its Sync is answered.
  ASSERT_EQ(PQenterPipelineMode(conn.get()), 1);
  ASSERT_EQ(PQsendQueryParams(conn.get(), "SELECT 1", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQflush(conn.get()), 0);
  EXPECT_TRUE(StateBecomes(*record, SessionState::kActive));
  ASSERT_EQ(PQpipelineSync(conn.get()), 1);
  EXPECT_NE(NextResult(conn.get(), DeadlineAfter(kHangGuard)), nullptr);
  EXPECT_EQ(NextResult(conn.get(), DeadlineAfter(kHangGuard)), nullptr);
  PgResult sync = NextResult(conn.get(), DeadlineAfter(kHangGuard));
  ASSERT_NE(sync, nullptr);
  EXPECT_EQ(PQresultStatus(sync.get()), PGRES_PIPELINE_SYNC);
  ASSERT_EQ(PQexitPipelineMode(conn.get()), 1);
  EXPECT_TRUE(StateBecomes(*record, SessionState::kIdle));
}

TEST_F(RegistryTest, CopyThroughTheExtendedProtocolEndsIdle) {
  // libpq sends Parse/Bind/Describe/Execute/Sync for a parameterised COPY,
  // then the data, CopyDone and another Sync; the server ignores the first
  // Sync. Miscounting them would leave the session "active" for good.
  PgConn conn = ConnectThroughProxy();
  PGconn* c = conn.get();
  std::shared_ptr<SessionRecord> record = RecordOf(c);
  ASSERT_NE(record, nullptr);
  ExecOk(c, "CREATE TEMP TABLE registry_copy (n int)");

  ASSERT_EQ(PQsendQueryParams(c, "COPY registry_copy FROM STDIN", 0, nullptr, nullptr, nullptr,
                              nullptr, 0),
            1);
  PgResult copy_in = NextResult(c, DeadlineAfter(kHangGuard), "CopyInResponse");
  ASSERT_EQ(PQresultStatus(copy_in.get()), PGRES_COPY_IN) << PQresultErrorMessage(copy_in.get());
  EXPECT_TRUE(StateBecomes(*record, SessionState::kActive));
  ASSERT_EQ(PQputCopyData(c, "1\n2\n3\n", 6), 1);
  ASSERT_EQ(PQputCopyEnd(c, nullptr), 1);
  PgResult copied = NextResult(c, DeadlineAfter(kHangGuard), "the end of the COPY");
  ASSERT_EQ(PQresultStatus(copied.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(copied.get());
  EXPECT_EQ(NextResult(c, DeadlineAfter(kHangGuard)), nullptr);
  EXPECT_TRUE(StateBecomes(*record, SessionState::kIdle)) << "after COPY FROM STDIN";

  ASSERT_EQ(PQsendQueryParams(c, "COPY registry_copy TO STDOUT", 0, nullptr, nullptr, nullptr,
                              nullptr, 0),
            1);
  PgResult copy_out = NextResult(c, DeadlineAfter(kHangGuard), "CopyOutResponse");
  ASSERT_EQ(PQresultStatus(copy_out.get()), PGRES_COPY_OUT) << PQresultErrorMessage(copy_out.get());
  int rows = 0;
  for (char* row = nullptr; PQgetCopyData(c, &row, /*async=*/0) > 0; ++rows) PQfreemem(row);
  EXPECT_EQ(rows, 3);
  PgResult sent = NextResult(c, DeadlineAfter(kHangGuard), "the end of the COPY");
  ASSERT_EQ(PQresultStatus(sent.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(sent.get());
  EXPECT_EQ(NextResult(c, DeadlineAfter(kHangGuard)), nullptr);
  EXPECT_TRUE(StateBecomes(*record, SessionState::kIdle)) << "after COPY TO STDOUT";
  EXPECT_EQ(ScalarString(c, "SELECT sum(n) FROM registry_copy"), "6");
}

TEST_F(RegistryTest, PasswordSessionIsIdleOnceLoggedIn) {
  // The password exchange ('p' messages) belongs to the startup: it must
  // not leave the session looking busy, or it would be shown as active and
  // escape a PAUSE until its first query.
  for (auto [user, password] :
       {std::pair{kScramUser, kScramPassword}, std::pair{kMd5User, kMd5Password}}) {
    SCOPED_TRACE(std::string(user));
    PgConn conn = ConnectThroughProxy(user, "password=" + std::string(password));
    std::shared_ptr<SessionRecord> record = RecordOf(conn.get());
    ASSERT_NE(record, nullptr);
    EXPECT_TRUE(StateBecomes(*record, SessionState::kIdle));

    ExecOk(conn.get(), "SELECT 1");
    EXPECT_TRUE(StateBecomes(*record, SessionState::kIdle)) << "after its first query";
  }
}

TEST_F(RegistryTest, PauseHoldsTheFirstRequestOfEverySession) {
  // Including a session whose login went through a password exchange.
  PgConn trusted = ConnectThroughProxy(kAppUser);
  PgConn scram = ConnectThroughProxy(kScramUser, "password=" + std::string(kScramPassword));
  std::shared_ptr<SessionRecord> trusted_record = RecordOf(trusted.get());
  std::shared_ptr<SessionRecord> scram_record = RecordOf(scram.get());
  ASSERT_NE(trusted_record, nullptr);
  ASSERT_NE(scram_record, nullptr);

  std::shared_ptr<proxy::DatabaseGate> gate = proxy_->server().databases().Gate("postgres");
  gate->Pause(proxy::StateOrigin::kAdminCommand);
  struct ResumeOnExit {
    proxy::DatabaseGate& gate;
    ~ResumeOnExit() { gate.Resume(); }
  } resume_on_exit{*gate};

  ASSERT_EQ(PQsendQuery(trusted.get(), "SELECT 'trusted'"), 1);
  ASSERT_EQ(PQsendQuery(scram.get(), "SELECT 'scram'"), 1);
  EXPECT_TRUE(StateBecomes(*trusted_record, SessionState::kHeld)) << "trust session";
  EXPECT_TRUE(StateBecomes(*scram_record, SessionState::kHeld)) << "SCRAM session";

  gate->Resume();
  for (PGconn* conn : {trusted.get(), scram.get()}) {
    PgResult result = NextResult(conn, DeadlineAfter(kHangGuard), "the query held by the pause");
    ASSERT_NE(result, nullptr);
    EXPECT_EQ(PQresultStatus(result.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(result.get());
    EXPECT_EQ(NextResult(conn, DeadlineAfter(kHangGuard)), nullptr);
  }
}

TEST_F(RegistryTest, TrustSessionIsIdleOnceLoggedIn) {
  PgConn conn = ConnectThroughProxy(kAppUser);
  std::shared_ptr<SessionRecord> record = RecordOf(conn.get());
  ASSERT_NE(record, nullptr);
  EXPECT_TRUE(StateBecomes(*record, SessionState::kIdle));
}

TEST_F(RegistryTest, ApplicationNameFollowsSet) {
  PgConn conn = ConnectThroughProxy(kSuperuser, "application_name=before");
  std::shared_ptr<SessionRecord> record = RecordOf(conn.get());
  ASSERT_NE(record, nullptr);
  EXPECT_EQ(record->Snapshot().application_name, "before");
  ExecOk(conn.get(), "SET application_name = 'after'");
  EXPECT_TRUE(
      PollUntil([&] { return record->Snapshot().application_name == "after"; }, DeadlineAfter(5s)))
      << record->Snapshot().application_name;
}

TEST_F(RegistryTest, CountersCountRequestsAndBytes) {
  PgConn conn = ConnectThroughProxy();
  std::shared_ptr<SessionRecord> record = RecordOf(conn.get());
  ASSERT_NE(record, nullptr);
  const std::string query = "SELECT repeat('x', 10000)";
  for (int i = 0; i < 3; ++i) ExecOk(conn.get(), query);
  // Counted by the session's thread as it relays, so a moment after the
  // client has its answers.
  const proxy::SessionCounters& counters = record->counters();
  EXPECT_TRUE(PollUntil(
      [&] {
        return counters.queries() == 3 && counters.transactions() == 3 &&
               counters.bytes_to_client() > 30'000 &&
               counters.bytes_from_client() > 3 * query.size();
      },
      DeadlineAfter(5s)))
      << "queries=" << counters.queries() << " transactions=" << counters.transactions()
      << " bytes_to_client=" << counters.bytes_to_client()
      << " bytes_from_client=" << counters.bytes_from_client();
}

}  // namespace
}  // namespace pgvalve::test
