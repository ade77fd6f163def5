// A session's life through a real ProxyServer: startup passed on verbatim,
// the server's key replaced, the registry kept current, and the ways a
// session ends. The server side is a scripted fake on loopback.

#include <atomic>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxy/session_state.h"
#include "tests/unit/proxy/fake_server.h"
#include "tests/unit/proxy/proxy_under_test.h"
#include "tests/unit/proxy/session_state_printer.h"
#include "tests/unit/proxy/wire.h"

namespace pgvalve::proxy {
namespace {

using namespace testutil;
using ::testing::HasSubstr;

constexpr int32_t kFirstVirtualPid = int32_t{1} << 30;
const Bytes kServerSecret = {std::byte{0xde}, std::byte{0xad}, std::byte{0xbe}, std::byte{0xef}};

// The session record of the only session in the registry, or nullptr.
std::shared_ptr<SessionRecord> OnlySession(ProxyUnderTest& proxy) {
  auto all = proxy.server().sessions().All();
  return all.size() == 1 ? all.front() : nullptr;
}

TEST(RelaySessionTest, StartupIsPassedOnVerbatimAndOnlyTheKeyIsReplaced) {
  const Bytes server_reply = StartupReply(4242, kServerSecret);
  FakeServer upstream([&](FakeConnection& connection) {
    connection.Send(server_reply);
    AnswerQueriesUntilClosed(connection);
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());

  // A 3.2 client: the minor version must reach the server untouched.
  const Parameters parameters = {{"user", "alice"}, {"database", "app"},
                                 {"application_name", "component-test"}, {"DateStyle", "ISO"}};
  const Bytes startup = StartupPacket(parameters, 3, 2);
  TestSocket client = proxy.Connect();
  ASSERT_TRUE(client.Send(startup));
  MessagesRead replies = ReadUntil(client, 'Z');
  ASSERT_EQ(replies.status, ReadStatus::kOk) << replies.Tags();
  ASSERT_EQ(replies.Tags(), "RSKZ");

  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);
  EXPECT_EQ(Hex(server_side->startup_packet(), 1000), Hex(startup, 1000));
  auto parsed = ParseStartupPacket(server_side->startup_packet());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->code, 0x00030002);
  EXPECT_EQ(parsed->parameters, parameters);

  // Everything but BackendKeyData arrives byte for byte.
  EXPECT_EQ(Encode(replies.messages[0]), AuthenticationOkMessage());
  EXPECT_EQ(Encode(replies.messages[1]), ParameterStatusMessage("server_version", "17.2"));
  EXPECT_EQ(Encode(replies.messages[3]), ReadyForQueryMessage('I'));

  std::optional<KeyData> key = ParseKeyData(replies.messages[2]);
  ASSERT_TRUE(key.has_value()) << Hex(replies.messages[2].body);
  EXPECT_GE(key->pid, kFirstVirtualPid);
  EXPECT_EQ(key->secret.size(), kServerSecret.size());
  EXPECT_NE(key->secret, kServerSecret);

  std::shared_ptr<SessionRecord> record = OnlySession(proxy);
  ASSERT_NE(record, nullptr);
  EXPECT_EQ(record->backend_pid(), 4242);
  EXPECT_EQ(record->virtual_pid(), key->pid);
  const std::optional<BackendKey> backend = record->backend();
  ASSERT_TRUE(backend.has_value());
  EXPECT_EQ(Bytes(backend->secret.begin(), backend->secret.end()), kServerSecret);
  EXPECT_EQ(record->state(), SessionState::kIdle);
  SessionSnapshot snapshot = record->Snapshot();
  EXPECT_EQ(snapshot.identity.user, "alice");
  EXPECT_EQ(snapshot.identity.database, "app");
  EXPECT_EQ(snapshot.upstream, kUpstreamName);
  EXPECT_EQ(snapshot.application_name, "component-test");

  // And the session carries requests both ways.
  EXPECT_TRUE(QueryRoundTrip(client, "SELECT 42"));
  ASSERT_TRUE(WaitFor([&] { return !server_side->received().empty(); }));
  std::vector<Message> received = server_side->received();
  EXPECT_EQ(Encode(received.front()), QueryMessage("SELECT 42"));
}

TEST(RelaySessionTest, ApplicationNameReportedByTheServerUpdatesTheRegistry) {
  FakeServer upstream([](FakeConnection& connection) {
    AcceptStartup(connection);
    ReceivedMessage set = connection.ReadMessage();
    if (!set.ok()) return;
    connection.Send(Concat({ParameterStatusMessage("application_name", "reporting"),
                            CommandCompleteMessage("SET"), ReadyForQueryMessage('I')}));
    AnswerQueriesUntilClosed(connection);
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);

  std::shared_ptr<SessionRecord> record = OnlySession(proxy);
  ASSERT_NE(record, nullptr);
  EXPECT_EQ(record->Snapshot().application_name, "component-test");

  ASSERT_TRUE(client.socket.Send(QueryMessage("SET application_name = 'reporting'")));
  MessagesRead reply = ReadUntil(client.socket, 'Z');
  ASSERT_EQ(reply.status, ReadStatus::kOk);
  EXPECT_EQ(reply.Tags(), "SCZ");
  EXPECT_EQ(Encode(reply.messages[0]), ParameterStatusMessage("application_name", "reporting"));
  EXPECT_EQ(record->Snapshot().application_name, "reporting");
}

TEST(RelaySessionTest, ServerFatalDuringAuthenticationReachesTheClientVerbatim) {
  const Bytes fatal = FatalMessage("28P01", "password authentication failed for user \"alice\"");
  std::atomic<bool> got_password{false};
  FakeServer upstream([&](FakeConnection& connection) {
    connection.Send(AuthenticationCleartextMessage());
    ReceivedMessage password = connection.ReadMessage();
    got_password = password.ok() && Encode(password.message) == PasswordMessage("wrong");
    connection.Send(fatal);
    // Returning closes the connection, as a backend exits after FATAL.
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());

  TestSocket client = proxy.Connect();
  ASSERT_TRUE(client.Send(StartupPacket(ClientParameters())));
  ReceivedMessage request = client.ReadMessage();
  ASSERT_TRUE(request.ok()) << ReadStatusName(request.status);
  EXPECT_EQ(Encode(request.message), AuthenticationCleartextMessage());
  ASSERT_TRUE(client.Send(PasswordMessage("wrong")));

  Bytes rest;
  ReadStatus end = client.ReadUntilClosed(rest);
  EXPECT_EQ(end, ReadStatus::kEof) << ReadStatusName(end);
  EXPECT_EQ(Hex(rest, 1000), Hex(fatal, 1000)) << "exactly the server's ErrorResponse, then EOF";
  EXPECT_TRUE(got_password) << "the password message reached the server unchanged";
  EXPECT_TRUE(WaitFor([&] { return proxy.server().sessions().size() == 0; }))
      << "the registry still lists the ended session";
}

// A session that authenticated with a password is idle in the registry, not
// "active" (see transaction_tracker_test.cc).
TEST(RelaySessionTest, SessionIsIdleAfterPasswordAuthentication) {
  FakeServer upstream([](FakeConnection& connection) {
    connection.Send(AuthenticationCleartextMessage());
    if (!connection.ReadMessage().ok()) return;
    AcceptStartup(connection);
    AnswerQueriesUntilClosed(connection);
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());

  TestSocket client = proxy.Connect();
  ASSERT_TRUE(client.Send(StartupPacket(ClientParameters())));
  ASSERT_TRUE(client.ReadMessage().ok());
  ASSERT_TRUE(client.Send(PasswordMessage("secret")));
  MessagesRead replies = ReadUntil(client, 'Z');
  ASSERT_EQ(replies.status, ReadStatus::kOk);
  ASSERT_EQ(replies.Tags(), "RSKZ");

  std::shared_ptr<SessionRecord> record = OnlySession(proxy);
  ASSERT_NE(record, nullptr);
  EXPECT_EQ(record->state(), SessionState::kIdle);
}

TEST(RelaySessionTest, RegistryFollowsAQueryAndTheTransactionBlock) {
  // The server's reply is released only when the test says so, so the
  // "active" state can be observed while a query is unanswered.
  std::atomic<bool> release{false};
  FakeServer upstream([&](FakeConnection& connection) {
    AcceptStartup(connection);
    if (!connection.ReadMessage().ok()) return;
    WaitFor([&] { return release.load(); });
    connection.Send(Concat({CommandCompleteMessage("BEGIN"), ReadyForQueryMessage('T')}));
    AnswerQueriesUntilClosed(connection);
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  std::shared_ptr<SessionRecord> record = OnlySession(proxy);
  ASSERT_NE(record, nullptr);

  ASSERT_TRUE(client.socket.Send(QueryMessage("BEGIN")));
  EXPECT_TRUE(WaitFor([&] { return record->state() == SessionState::kActive; }))
      << ::testing::PrintToString(record->state());
  release = true;
  MessagesRead reply = ReadUntil(client.socket, 'Z');
  ASSERT_EQ(reply.status, ReadStatus::kOk);
  EXPECT_EQ(record->state(), SessionState::kIdleInTransaction);
}

// Each transaction lands in its database's latency histogram as it ends,
// and the histogram counts what the session's counters count.
TEST(RelaySessionTest, EachTransactionIsAddedToItsDatabasesLatencyHistogram) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(QueryRoundTrip(client.socket));

  const TransactionLatencies::Totals totals = proxy.server().events().transaction_latencies().Read();
  ASSERT_TRUE(totals.by_database.contains("app"));
  EXPECT_EQ(totals.by_database.at("app").count(), 3u);
  EXPECT_FALSE(totals.has_others);
  std::shared_ptr<SessionRecord> record = OnlySession(proxy);
  ASSERT_NE(record, nullptr);
  EXPECT_EQ(record->counters().transactions(), 3u);
  EXPECT_EQ(totals.by_database.at("app").sum_us, record->counters().transaction_time_us());
}

class RelayClientGoneTest : public ::testing::TestWithParam<bool> {};

TEST_P(RelayClientGoneTest, ServerGetsTerminateThenEofWhenTheClientVanishes) {
  const bool reset = GetParam();
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  ASSERT_TRUE(QueryRoundTrip(client.socket));
  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);

  // No Terminate from the client: it just goes away.
  if (reset) {
    client.socket.Abort();
  } else {
    client.socket.Close();
  }

  ASSERT_TRUE(server_side->WaitUntilDone());
  ASSERT_TRUE(WaitFor([&] { return server_side->script_done(); }));
  EXPECT_EQ(TagsOf(server_side->received()), "QX") << "the server should see the query, then pgvalve's Terminate";
  EXPECT_EQ(server_side->peer_closed(), std::optional(ReadStatus::kEof));
  EXPECT_TRUE(WaitFor([&] { return proxy.server().sessions().size() == 0; }));
  EXPECT_EQ(proxy.server().cancel_keys().size(), 0u) << "the session's cancel key outlived it";
}

INSTANTIATE_TEST_SUITE_P(CloseOrReset, RelayClientGoneTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Reset" : "Close"; });

// A client whose close comes with its last bytes raises no readiness edge
// of its own once those bytes are read (proxy/reactor_receive.h). Each of
// these sessions must still end.
TEST(RelaySessionTest, AClientClosingRightAfterARequestEndsWhenItsAnswerIsWritten) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);

  ASSERT_TRUE(client.socket.Send(QueryMessage("SELECT 1")));
  client.socket.Close();

  EXPECT_TRUE(WaitFor([&] { return proxy.server().sessions().size() == 0; }))
      << "the session outlived a client that left with its request";
  ASSERT_TRUE(WaitFor([&] { return server_side->script_done(); }));
  EXPECT_EQ(TagsOf(server_side->received()), "QX");
}

TEST(RelaySessionTest, AClientClosingInsideAMessageEndsAtOnce) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);

  // Half a Query: the server has nothing to answer, so only the client's
  // EOF can end the session.
  Bytes query = QueryMessage("SELECT 1");
  query.resize(query.size() / 2);
  ASSERT_TRUE(client.socket.Send(query));
  client.socket.Close();

  EXPECT_TRUE(WaitFor([&] { return proxy.server().sessions().size() == 0; }))
      << "the session outlived a client that left inside a message";
  ASSERT_TRUE(server_side->WaitUntilDone());
  EXPECT_EQ(server_side->peer_closed(), std::optional(ReadStatus::kEof));
}

TEST(RelaySessionTest, ClientTerminateIsForwardedAndEndsTheSession) {
  FakeServer upstream(AnsweringServer());
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  auto server_side = upstream.WaitForSession(0);
  ASSERT_NE(server_side, nullptr);

  ASSERT_TRUE(client.socket.Send(TerminateMessage()));
  Bytes rest;
  ReadStatus end = client.socket.ReadUntilClosed(rest);
  EXPECT_TRUE(IsClosed(end)) << ReadStatusName(end);
  EXPECT_TRUE(rest.empty()) << Hex(rest);

  ASSERT_TRUE(WaitFor([&] { return server_side->script_done(); }));
  std::vector<Message> received = server_side->received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].tag, 'X');
  EXPECT_EQ(server_side->peer_closed(), std::optional(ReadStatus::kEof));
  EXPECT_TRUE(WaitFor([&] { return proxy.server().sessions().size() == 0; }));
}

TEST(RelaySessionTest, ServerClosingMidSessionClosesTheClient) {
  FakeServer upstream([](FakeConnection& connection) {
    AcceptStartup(connection);
    if (!connection.ReadMessage().ok()) return;
    connection.Send(FatalMessage("57P01", "terminating connection due to administrator command"));
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);
  ASSERT_TRUE(client.socket.Send(QueryMessage("SELECT pg_sleep(10)")));
  std::optional<ErrorReport> error = ReadFatalThenClose(client.socket);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->sqlstate, "57P01");
  EXPECT_THAT(error->message, HasSubstr("administrator command"));
}

}  // namespace
}  // namespace pgvalve::proxy
