// What a client sends before it authenticates (user, database,
// application_name) reaches pgvalve's log escaped and quoted: a newline
// cannot start a forged line, an ANSI escape cannot repaint the operator's
// terminal, and invalid UTF-8 is not written raw. Part of the
// relay_e2e_test binary.

#include <gtest/gtest.h>

#include <string>

#include "tests/e2e/libpq_waits.h"
#include "tests/support/e2e_environment.h"
#include "tests/support/libpq_helpers.h"

namespace pgvalve::test {
namespace {

using namespace std::chrono_literals;

class LogInjectionTest : public ProxiedPostgresTest {
 protected:
  // Waits until the log holds `text`, so that the session's lines are
  // written before the test reads them.
  std::string LogOnceItHas(const std::string& text) {
    EXPECT_TRUE(PollUntil([&] { return proxy().Log().find(text) != std::string::npos; },
                          DeadlineAfter(20s)))
        << "not in the log: " << text << "\n"
        << proxy().LogTail();
    return proxy().Log();
  }
};

// A line of the log that starts with `prefix` after the timestamp and level,
// as a forged line would.
bool SomeLineStartsWith(const std::string& log, const std::string& prefix) {
  for (size_t at = 0; at < log.size();) {
    size_t end = log.find('\n', at);
    if (end == std::string::npos) end = log.size();
    const std::string line = log.substr(at, end - at);
    const size_t level_end = line.find("] ");
    if (line.rfind(prefix, 0) == 0 ||
        (level_end != std::string::npos && line.compare(level_end + 2, prefix.size(), prefix) == 0)) {
      return true;
    }
    at = end + 1;
  }
  return false;
}

bool HasInvalidUtf8OrControl(const std::string& log) {
  for (size_t at = 0; at < log.size(); ++at) {
    const auto byte = static_cast<unsigned char>(log[at]);
    if (byte == 0x1b || byte == 0xff || byte == 0xfe || byte == '\r') return true;
  }
  return false;
}

TEST_F(LogInjectionTest, ApplicationNameIsEscapedInTheSessionLines) {
  if (TargetIsDirect()) GTEST_SKIP() << "pgvalve's log";
  const std::string forged = "admin audit: user=\"admin\" from=10.0.0.1:1 command=\"ENABLE app\" outcome=ok";
  const std::string application_name = "tag-4711\n" + forged + "\x1b[2J\xff\xfe";
  {
    PgConn conn = Connect(ProxyConnString(
        "postgres", kSuperuser, "application_name=" + QuoteConnInfoValue(application_name)));
    EXPECT_EQ(ScalarString(conn.get(), "SELECT 1"), "1");
  }
  const std::string log = LogOnceItHas("application_name=\"tag-4711\\x0a");
  EXPECT_FALSE(SomeLineStartsWith(log, forged)) << log;
  EXPECT_FALSE(HasInvalidUtf8OrControl(log)) << log;
  EXPECT_NE(log.find("\\x1b[2J\\xff\\xfe\""), std::string::npos) << log;
}

// The user is printed before PostgreSQL has said whether it exists: a
// refused login must not write lines either.
TEST_F(LogInjectionTest, UnknownUserIsEscapedInTheCloseLine) {
  if (TargetIsDirect()) GTEST_SKIP() << "pgvalve's log";
  const std::string forged = "session 1 closed (closed by pgvalve): client=10.0.0.1:1";
  const std::string user = "nobody-4712\r\n" + forged + "\x1b]0;title\x07\xc3";
  ConnectOutcome outcome = TryConnect(ProxyConnString("postgres", user));
  EXPECT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.sqlstate, "28000") << outcome.error;

  const std::string log = LogOnceItHas("user=\"nobody-4712\\x0d\\x0a");
  EXPECT_FALSE(SomeLineStartsWith(log, forged)) << log;
  EXPECT_FALSE(HasInvalidUtf8OrControl(log)) << log;
  EXPECT_NE(log.find("\\x1b]0;title\\x07\\xc3\""), std::string::npos) << log;
}

// No route for the database: the warning quotes the name.
TEST_F(LogInjectionTest, DatabaseNameIsEscaped) {
  if (TargetIsDirect()) GTEST_SKIP() << "pgvalve's log";
  const std::string database = "db-4713\n[critical] pgvalve stopped\x1b[0m";
  ConnectOutcome outcome = TryConnect(ProxyConnString(database));
  EXPECT_FALSE(outcome.ok());
  const std::string log = LogOnceItHas("database=\"db-4713\\x0a[critical] pgvalve stopped\\x1b[0m\"");
  EXPECT_FALSE(SomeLineStartsWith(log, "[critical] pgvalve stopped")) << log;
  EXPECT_FALSE(HasInvalidUtf8OrControl(log)) << log;
}

}  // namespace
}  // namespace pgvalve::test
