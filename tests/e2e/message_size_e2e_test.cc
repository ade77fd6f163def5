// proxy.max_message_size against a real PostgreSQL 15: it limits what
// clients send, never the server's results. A pgvalve of its own runs with
// the limit at 1 MiB. Part of the relay_e2e_test binary.

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "tests/e2e/libpq_waits.h"
#include "tests/e2e/raw_connection.h"
#include "tests/support/e2e_environment.h"
#include "tests/support/libpq_helpers.h"
#include "tests/support/temp_dir.h"

namespace pgvalve::test {
namespace {

using namespace std::chrono_literals;

constexpr size_t kLimit = 1024 * 1024;

class MessageSizeTest : public ProxiedPostgresTest {
 protected:
  void SetUp() override {
    ProxiedPostgresTest::SetUp();
    if (HasFatalFailure() || TargetIsDirect()) return;
    dir_ = std::make_unique<TempDir>("pgvalve-max-message");
    PgvalveArgs args = StandardPgvalveArgs(pg());
    args.config_file = dir_->path() + "/pgvalve.toml";
    std::ofstream(args.config_file) << "[proxy]\nmax_message_size = " << kLimit << "\n";
    limited_ = std::make_unique<PgvalveProcess>(args);
    port_ = args.listen_port;
  }

  void TearDown() override {
    if (limited_) {
      EXPECT_EQ(limited_->StopAndCheck(), "");
    }
    ProxiedPostgresTest::TearDown();
  }

  // The limited pgvalve, or PostgreSQL itself in direct mode.
  std::string ConnString() const {
    if (TargetIsDirect()) return DirectConnString();
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=postgres user=" +
           QuoteConnInfoValue(kSuperuser);
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<PgvalveProcess> limited_;
  uint16_t port_ = 0;
};

TEST_F(MessageSizeTest, ServerRowLargerThanTheLimitArrivesIntact) {
  PgConn conn = Connect(ConnString());
  constexpr size_t kValue = 5 * 1024 * 1024;
  PgResult result =
      ExecOk(conn.get(), "SELECT repeat('x', " + std::to_string(kValue) + ") || 'end'");
  ASSERT_EQ(PQntuples(result.get()), 1);
  const std::string value(PQgetvalue(result.get(), 0, 0), PQgetlength(result.get(), 0, 0));
  ASSERT_EQ(value.size(), kValue + 3);
  EXPECT_EQ(std::count(value.begin(), value.end(), 'x'), static_cast<std::ptrdiff_t>(kValue));
  EXPECT_TRUE(value.ends_with("end"));
  EXPECT_EQ(ScalarString(conn.get(), "SELECT 'still usable'"), "still usable");
}

TEST_F(MessageSizeTest, ClientMessageAboveTheLimitEndsOnlyThatSession) {
  // PostgreSQL itself takes a Query of up to 1 GB.
  if (TargetIsDirect()) GTEST_SKIP() << "max_message_size is pgvalve's";
  PgConn bystander = Connect(ConnString());

  RawConnection raw = RawConnection::ConnectTcp(port_);
  raw.Start({{"user", std::string(kSuperuser)}, {"database", "postgres"}}, DeadlineAfter(30s));
  // pgvalve decides at the header, so only the start of the message is
  // sent: the whole of it could meet a closed connection halfway.
  const std::string query = QueryMessage("SELECT '" + std::string(kLimit, 'y') + "'");
  ASSERT_GT(query.size(), kLimit + 1);
  raw.Send(std::string_view(query).substr(0, 16 * 1024));

  std::optional<BackendMessage> reply = raw.ReadMessage(DeadlineAfter(30s));
  ASSERT_TRUE(reply.has_value()) << "pgvalve closed without an ErrorResponse";
  ASSERT_EQ(reply->tag, 'E');
  std::map<char, std::string> fields = ErrorFields(reply->body);
  EXPECT_EQ(fields['S'], "FATAL");
  EXPECT_EQ(fields['C'], "08P01") << fields['M'];
  EXPECT_TRUE(raw.WaitForClose(DeadlineAfter(30s))) << "the connection stayed open";

  EXPECT_EQ(ScalarString(bystander.get(), "SELECT 'bystander'"), "bystander");
  PgConn newcomer = Connect(ConnString());
  EXPECT_EQ(ScalarString(newcomer.get(), "SELECT 1"), "1");
}

}  // namespace
}  // namespace pgvalve::test
