// NotificationResponse names the notifying backend by its real pid; a
// client knows pgvalve's sessions only by their virtual pids, so pgvalve
// translates the pid when the notifier is one of its sessions on the same
// upstream, and leaves any other pid as the server sent it.

#include <atomic>
#include <cstdint>
#include <optional>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/backend_messages.h"
#include "tests/unit/proxy/fake_server.h"
#include "tests/unit/proxy/proxy_under_test.h"
#include "tests/unit/proxy/wire.h"

namespace pgvalve::proxy {
namespace {

using namespace testutil;
using ::testing::HasSubstr;

constexpr int32_t kFirstBackendPid = 5001;
// A backend no pgvalve session has: a direct connection to the server.
constexpr int32_t kDirectBackendPid = 9999;

// The session with backend pid 5001 answers its first Query with
// notifications from itself, from the session with pid 5002 and from a
// direct connection; later sessions just answer queries.
FakeServer::Script NotifyingServer(std::atomic<int32_t>& next_pid) {
  return [&next_pid](FakeConnection& connection) {
    const int32_t pid = next_pid++;
    AcceptStartup(connection, pid);
    if (pid == kFirstBackendPid) {
      if (!connection.ReadMessage().ok()) return;
      connection.Send(Concat({NotificationResponseMessage(kFirstBackendPid, "jobs", "own"),
                              NotificationResponseMessage(kFirstBackendPid + 1, "jobs", "other"),
                              NotificationResponseMessage(kDirectBackendPid, "jobs", "direct"),
                              CommandCompleteMessage("NOTIFY"), ReadyForQueryMessage('I')}));
    }
    AnswerQueriesUntilClosed(connection);
  };
}

struct Notification {
  int32_t pid;
  std::string channel;
  std::string payload;
};

std::optional<Notification> ParseNotification(const Message& message) {
  if (message.tag != 'A') return std::nullopt;
  auto parsed = protocol::ParseNotificationResponse(message.body);
  if (!parsed.ok()) return std::nullopt;
  return Notification{parsed->pid, std::string(parsed->channel), std::string(parsed->payload)};
}

TEST(RelayNotificationTest, PidsOfPgvalveSessionsBecomeVirtualOthersStayReal) {
  std::atomic<int32_t> next_pid{kFirstBackendPid};
  FakeServer upstream(NotifyingServer(next_pid));
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient listener = StartSession(proxy);  // backend pid 5001
  ASSERT_TRUE(listener.ready);
  ASSERT_TRUE(listener.key.has_value());
  TestClient notifier = StartSession(proxy);  // backend pid 5002
  ASSERT_TRUE(notifier.ready);
  ASSERT_TRUE(notifier.key.has_value());

  ASSERT_TRUE(listener.socket.Send(QueryMessage("LISTEN jobs; NOTIFY jobs")));
  MessagesRead reply = ReadUntil(listener.socket, 'Z');
  ASSERT_EQ(reply.Tags(), "AAACZ");
  std::optional<Notification> own = ParseNotification(reply.messages[0]);
  std::optional<Notification> other = ParseNotification(reply.messages[1]);
  std::optional<Notification> direct = ParseNotification(reply.messages[2]);
  ASSERT_TRUE(own && other && direct) << "a NotificationResponse arrived malformed";
  EXPECT_EQ(own->pid, listener.key->pid) << "its own notification, by the pid it knows";
  EXPECT_EQ(other->pid, notifier.key->pid);
  EXPECT_EQ(direct->pid, kDirectBackendPid) << "a direct backend has no other name";
  EXPECT_EQ(own->channel, "jobs");
  EXPECT_EQ(own->payload, "own");
  EXPECT_EQ(other->payload, "other");
  EXPECT_EQ(direct->payload, "direct");
  EXPECT_TRUE(QueryRoundTrip(listener.socket));
}

TEST(RelayNotificationTest, EndedSessionsPidIsNoLongerTranslated) {
  std::atomic<int32_t> next_pid{kFirstBackendPid};
  FakeServer upstream(NotifyingServer(next_pid));
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient listener = StartSession(proxy);
  ASSERT_TRUE(listener.ready);
  {
    TestClient notifier = StartSession(proxy);
    ASSERT_TRUE(notifier.ready);
    ASSERT_TRUE(notifier.socket.Send(TerminateMessage()));
  }
  ASSERT_TRUE(WaitFor([&] { return proxy.server().sessions().size() == 1; }));

  ASSERT_TRUE(listener.socket.Send(QueryMessage("LISTEN jobs; NOTIFY jobs")));
  MessagesRead reply = ReadUntil(listener.socket, 'Z');
  ASSERT_EQ(reply.Tags(), "AAACZ");
  std::optional<Notification> other = ParseNotification(reply.messages[1]);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->pid, kFirstBackendPid + 1);
}

TEST(RelayNotificationTest, MalformedNotificationIsTheUpstreamsFault) {
  // Pid and channel, then a payload without its terminator.
  const Bytes bad = Concat({RawHeader('A', 4 + 4 + 5 + 3), Bytes{std::byte{0}, std::byte{0},
                                                                std::byte{0x13}, std::byte{0x89}},
                            AsBytes(std::string_view("jobs\0abc", 8))});
  FakeServer upstream([&](FakeConnection& connection) {
    AcceptStartup(connection);
    if (!connection.ReadMessage().ok()) return;
    connection.Send(bad);
    connection.ReadUntilClosed();
  });
  ProxyUnderTest proxy(MakeConfig(upstream.port()));
  ASSERT_TRUE(proxy.ok());
  TestClient client = StartSession(proxy);
  ASSERT_TRUE(client.ready);

  ASSERT_TRUE(client.socket.Send(QueryMessage("LISTEN jobs")));
  std::optional<ErrorReport> error = ReadFatalThenClose(client.socket);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->sqlstate, "08P01");
  EXPECT_THAT(error->message, HasSubstr("NotificationResponse"));
}

}  // namespace
}  // namespace pgvalve::proxy
