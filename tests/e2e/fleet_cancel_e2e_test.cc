// Cancel requests across a fleet: a client's CancelRequest reaches
// whichever instance the load balancer picks; the instance that did not
// mint the key sends it on to the one that did (named by the pid's
// instance slot), which checks the secret. Real etcd, real PostgreSQL, the
// pgvalve binary, and a client that speaks the protocol byte by byte, as
// only that can send a CancelRequest to another address than its session's.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "proxy/cancel_key_map.h"
#include "tests/e2e/fleet_test_support.h"
#include "tests/e2e/raw_connection.h"

namespace pgvalve::test {
namespace {

using namespace std::chrono_literals;

class FleetCancelTest : public FleetTest {};

// Sends `packet` as a connection of its own to `port`; true once pgvalve,
// having acted on it or not, closed that connection.
bool SendCancel(uint16_t port, const std::string& packet) {
  RawConnection canceller = RawConnection::ConnectTcp(port);
  canceller.Send(packet);
  return canceller.WaitForClose(DeadlineAfter(10s));
}

// Whether the statement `sql` runs (state active) on PostgreSQL.
bool Running(PGconn* direct, const std::string& sql) {
  return ScalarString(direct, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = " +
                                  QuoteLiteral(sql)) == "1";
}

TEST_F(FleetCancelTest, ACancelRequestSentToAnotherInstanceCancelsTheQueryAndAWrongSecretNothing) {
  std::unique_ptr<AdminPgvalve> a = Instance("a", "/fleet-cancel");
  std::unique_ptr<AdminPgvalve> b = Instance("b", "/fleet-cancel");
  ASSERT_TRUE(WaitAdmitting(*a));
  ASSERT_TRUE(WaitAdmitting(*b));

  RawConnection session = RawConnection::ConnectTcp(a->listen_port());
  const std::optional<CancelKey> key = FindBackendKey(session.Start(
      {{"user", std::string(kSuperuser)}, {"database", "postgres"}}, DeadlineAfter(30s)));
  ASSERT_TRUE(key.has_value()) << "no BackendKeyData at startup";
  // The pid names a's slot, as SHOW FLEET does.
  PgConn admin_a = Connect(a->AdminConnString());
  const ResultTable fleet = QueryTable(admin_a.get(), "SHOW FLEET");
  const std::optional<size_t> row_a = fleet.FindRow("instance_id", "a");
  ASSERT_TRUE(row_a) << fleet.ToString();
  EXPECT_EQ(std::to_string(proxy::InstanceSlotOf(key->pid).value_or(-1)), fleet.Text(*row_a, "slot"));

  const std::string sql = "SELECT pg_sleep(60)";
  session.Send(QueryMessage(sql));
  PgConn direct = ConnectDirect("postgres");
  ASSERT_TRUE(WaitUntil([&] { return Running(direct.get(), sql); }));

  // A wrong secret, sent to b: b sends it on to a (once b's watch has seen
  // a), and a drops it, saying so in its log. b answers only after a has
  // closed, so the query is seen running after a has acted.
  std::string wrong = key->secret;
  wrong[0] = static_cast<char>(wrong[0] ^ 1);
  const std::string dropped_on_a = "for pid " + std::to_string(key->pid) + " ignored";
  ASSERT_TRUE(WaitUntil([&] {
    EXPECT_TRUE(SendCancel(b->listen_port(), CancelRequestPacket(key->pid, wrong)));
    return a->process().LogTail(200).find(dropped_on_a) != std::string::npos;
  })) << a->process().LogTail() << b->process().LogTail();
  EXPECT_TRUE(Running(direct.get(), sql));

  // The right key, sent to b, cancels the query on a.
  ASSERT_TRUE(SendCancel(b->listen_port(), CancelRequestPacket(key->pid, key->secret)));
  const std::vector<BackendMessage> cancelled = session.ReadUntilReady(DeadlineAfter(kHangGuard));
  EXPECT_EQ(FirstError(cancelled)['C'], "57014") << TagsOf(cancelled);
  session.Send(FrontendMessage('X', ""));
  EXPECT_TRUE(session.WaitForClose(DeadlineAfter(10s)));
  EXPECT_EQ(a->StopAndCheck(), "");
  EXPECT_EQ(b->StopAndCheck(), "");
}

}  // namespace
}  // namespace pgvalve::test
