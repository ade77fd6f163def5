// SessionControl::Probe runs a query of pgvalve's own on a session's
// backend between two of its client's requests: the caller gets the first
// row, the client sees nothing of the exchange, a session that is not idle
// is refused, and a request the client sends meanwhile waits for the probe
// to finish and is then answered.

#include <condition_variable>
#include <future>
#include <mutex>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/proxy/fake_server.h"
#include "tests/unit/proxy/proxy_under_test.h"
#include "tests/unit/proxy/session_state_printer.h"
#include "tests/unit/proxy/wire.h"

namespace pgvalve::proxy {
namespace {

using namespace testutil;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

constexpr std::string_view kProbeSql = "SELECT 'probe'";
constexpr std::string_view kFailingProbeSql = "SELECT 'probe' FROM nowhere";
// Answered only once the test opens the server's latch.
constexpr std::string_view kSlowProbeSql = "SELECT 'slow probe'";
constexpr std::string_view kSlowClientSql = "SELECT 'slow client'";

// Lets the server's script wait for the test.
class Latch {
 public:
  void Open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  bool Wait(Millis timeout = kIoTimeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
};

// Answers each Query by its text: BEGIN and COMMIT move in and out of a
// transaction block, the probes get two rows (42, then 43) or an error, the
// slow statements wait for `latch`, anything else is "SELECT 1".
FakeServer::Script ProbeAnsweringServer(std::shared_ptr<Latch> latch) {
  return [latch](FakeConnection& connection) {
    if (!AcceptStartup(connection)) return;
    char status = 'I';
    while (true) {
      ReceivedMessage received = connection.ReadMessage();
      if (!received.ok()) return;
      if (received.message.tag == 'X') {
        connection.ReadUntilClosed();
        return;
      }
      if (received.message.tag != 'Q') continue;
      const std::string sql = QueryText(received.message);
      if (sql == kSlowProbeSql || sql == kSlowClientSql) latch->Wait();
      Bytes reply;
      if (sql == "BEGIN") {
        status = 'T';
        reply = CommandCompleteMessage("BEGIN");
      } else if (sql == "COMMIT") {
        status = 'I';
        reply = CommandCompleteMessage("COMMIT");
      } else if (sql == kProbeSql || sql == kSlowProbeSql) {
        reply = Concat({RowDescriptionMessage("answer"), DataRowMessage(AsBytes("42")),
                        DataRowMessage(AsBytes("43")), CommandCompleteMessage("SELECT 2")});
      } else if (sql == kFailingProbeSql) {
        reply = ErrorMessage("42P01", "relation \"nowhere\" does not exist");
      } else {
        reply = CommandCompleteMessage("SELECT 1");
      }
      if (!connection.Send(Concat({reply, ReadyForQueryMessage(status)}))) return;
    }
  };
}

using ProbeResult = SessionControl::ProbeResult;

std::future<ProbeResult> StartProbe(const std::shared_ptr<SessionRecord>& record,
                                    std::string_view sql) {
  auto answer = std::make_shared<std::promise<ProbeResult>>();
  std::future<ProbeResult> answered = answer->get_future();
  std::shared_ptr<SessionControl> control = record->control();
  if (!control) {
    answer->set_value(absl::FailedPreconditionError("the session has ended"));
    return answered;
  }
  control->Probe(std::string(sql), [answer](ProbeResult result) { answer->set_value(std::move(result)); });
  return answered;
}

// The probe's answer; a test failure if none comes.
std::optional<ProbeResult> AnswerOf(std::future<ProbeResult>& answered) {
  if (answered.wait_for(kIoTimeout) != std::future_status::ready) {
    ADD_FAILURE() << "the probe was never answered";
    return std::nullopt;
  }
  return answered.get();
}

std::optional<ProbeResult> Probe(const std::shared_ptr<SessionRecord>& record, std::string_view sql) {
  std::future<ProbeResult> answered = StartProbe(record, sql);
  return AnswerOf(answered);
}

// The SQL of every Query the server got, in order.
std::vector<std::string> QueriesReceived(const FakeConnection& server_side) {
  std::vector<std::string> queries;
  for (const Message& message : server_side.received()) queries.push_back(QueryText(message));
  return queries;
}

class RelayProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(proxy_.ok());
    client_ = StartSession(proxy_);
    ASSERT_TRUE(client_.ready);
    ASSERT_EQ(proxy_.server().sessions().size(), 1u);
    record_ = proxy_.server().sessions().All().front();
    server_side_ = upstream_.WaitForSession(0);
    ASSERT_NE(server_side_, nullptr);
  }
  void TearDown() override { latch_->Open(); }

  // Sends a Query and reads its answer, which must be exactly the one the
  // fake server gives: no message of a probe before or among it.
  void ExpectOwnAnswer(std::string_view sql) {
    ASSERT_TRUE(client_.socket.Send(QueryMessage(sql)));
    MessagesRead answer = ReadUntil(client_.socket, 'Z');
    EXPECT_EQ(answer.Tags(), "CZ") << "the client saw more than the answer to its own query";
  }

  std::shared_ptr<Latch> latch_ = std::make_shared<Latch>();
  FakeServer upstream_{ProbeAnsweringServer(latch_)};
  ProxyUnderTest proxy_{MakeConfig(upstream_.port())};
  TestClient client_;
  std::shared_ptr<SessionRecord> record_;
  std::shared_ptr<FakeConnection> server_side_;
};

TEST_F(RelayProbeTest, ProbeOfAnIdleSessionReturnsTheFirstRowAndTheClientSeesNothingOfIt) {
  std::optional<ProbeResult> probe = Probe(record_, kProbeSql);
  ASSERT_TRUE(probe.has_value());
  ASSERT_TRUE(probe->ok()) << probe->status();
  EXPECT_THAT(**probe, ElementsAre(Optional(std::string("42"))));
  // Counted by the worker before it ran the probe: only the startup replies.
  uint64_t startup_bytes = 0;
  for (const Message& message : client_.startup_replies) startup_bytes += Encode(message).size();
  EXPECT_EQ(record_->counters().bytes_to_client(), startup_bytes);
  EXPECT_EQ(record_->state(), SessionState::kIdle);

  ExpectOwnAnswer("SELECT 'after the probe'");
  EXPECT_THAT(QueriesReceived(*server_side_),
              ElementsAre(std::string(kProbeSql), "SELECT 'after the probe'"));
}

TEST_F(RelayProbeTest, ProbeTheServerRejectsReportsTheErrorAndTheClientSeesNothingOfIt) {
  std::optional<ProbeResult> probe = Probe(record_, kFailingProbeSql);
  ASSERT_TRUE(probe.has_value());
  ASSERT_FALSE(probe->ok());
  EXPECT_THAT(probe->status().message(), HasSubstr("relation \"nowhere\" does not exist"));
  ExpectOwnAnswer("SELECT 'after the probe'");
}

TEST_F(RelayProbeTest, ProbeOfASessionInATransactionBlockIsRefused) {
  ASSERT_TRUE(client_.socket.Send(QueryMessage("BEGIN")));
  ASSERT_EQ(ReadUntil(client_.socket, 'Z').Tags(), "CZ");

  std::optional<ProbeResult> probe = Probe(record_, kProbeSql);
  ASSERT_TRUE(probe.has_value());
  ASSERT_FALSE(probe->ok());
  EXPECT_THAT(probe->status().message(), HasSubstr("idle in transaction"));

  ExpectOwnAnswer("COMMIT");
  probe = Probe(record_, kProbeSql);
  ASSERT_TRUE(probe.has_value());
  EXPECT_TRUE(probe->ok()) << "refused once the transaction block had ended: " << probe->status();
  EXPECT_THAT(QueriesReceived(*server_side_), ElementsAre("BEGIN", "COMMIT", std::string(kProbeSql)));
}

TEST_F(RelayProbeTest, ProbeOfASessionWhoseRequestIsRunningIsRefused) {
  ASSERT_TRUE(client_.socket.Send(QueryMessage(kSlowClientSql)));
  // The relay counts a request as running before it forwards it.
  ASSERT_TRUE(WaitFor([&] { return server_side_->received().size() == 1; }));

  std::optional<ProbeResult> probe = Probe(record_, kProbeSql);
  ASSERT_TRUE(probe.has_value());
  ASSERT_FALSE(probe->ok());
  EXPECT_THAT(probe->status().message(), HasSubstr("active"));

  latch_->Open();
  EXPECT_EQ(ReadUntil(client_.socket, 'Z').Tags(), "CZ");
  EXPECT_THAT(QueriesReceived(*server_side_), ElementsAre(std::string(kSlowClientSql)));
}

TEST_F(RelayProbeTest, RequestSentWhileAProbeRunsWaitsForItAndIsThenAnswered) {
  std::future<ProbeResult> slow_probe = StartProbe(record_, kSlowProbeSql);
  ASSERT_TRUE(WaitFor([&] { return server_side_->received().size() == 1; }))
      << "the probe's query never reached the server";

  const uint64_t bytes_from_client = record_->counters().bytes_from_client();
  const Bytes request = QueryMessage("SELECT 'meanwhile'");
  ASSERT_TRUE(client_.socket.Send(request));
  ASSERT_TRUE(WaitFor([&] {
    return record_->counters().bytes_from_client() == bytes_from_client + request.size();
  })) << "pgvalve did not read the request";
  // A second probe is queued on the session's worker behind the handler
  // that read the request, so its answer comes once the relay has decided
  // what to do with it. While one probe runs, another is refused.
  std::optional<ProbeResult> second = Probe(record_, kProbeSql);
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(second->ok()) << "a second probe ran while the first was running";
  // Forwarded, the request would have made the session active.
  EXPECT_EQ(record_->state(), SessionState::kIdle) << "the request went on during the probe";
  EXPECT_FALSE(slow_probe.wait_for(Millis(0)) == std::future_status::ready);

  latch_->Open();
  std::optional<ProbeResult> probe = AnswerOf(slow_probe);
  ASSERT_TRUE(probe.has_value());
  ASSERT_TRUE(probe->ok()) << probe->status();
  EXPECT_THAT(**probe, ElementsAre(Optional(std::string("42"))));
  MessagesRead answer = ReadUntil(client_.socket, 'Z');
  EXPECT_EQ(answer.Tags(), "CZ") << "the request was not answered after the probe";
  EXPECT_THAT(QueriesReceived(*server_side_),
              ElementsAre(std::string(kSlowProbeSql), "SELECT 'meanwhile'"));
}

}  // namespace
}  // namespace pgvalve::proxy
