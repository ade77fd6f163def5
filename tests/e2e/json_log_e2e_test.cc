// log_format = "json": a pgvalve whose every log line is one JSON object,
// with the fields operators filter on as keys of their own.

#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "tests/e2e/admin_test_support.h"
#include "tests/support/json_value.h"

namespace pgvalve::test {
namespace {

class JsonLogFormatTest : public AdminConsoleTest {};

TEST_F(JsonLogFormatTest, EveryLineIsAnObjectWithStableKeys) {
  const std::string db = FreshDatabase();
  AdminPgvalveOptions options;
  options.top_toml = "log_format = \"json\"\n";
  AdminPgvalve json(pg(), options);
  {
    PgConn client = Connect(json.ClientConnString(db));
    ExecOk(client.get(), "SELECT 1");
    PgConn admin = Connect(json.AdminConnString());
    ExecOk(admin.get(), "SHOW VERSION");
  }
  ASSERT_EQ(json.StopAndCheck(), "");

  std::istringstream log(json.process().Log());
  std::string line;
  // The harness writes the command line first; pgvalve's own lines follow.
  ASSERT_TRUE(std::getline(log, line));
  ASSERT_NE(line.find("--config"), std::string::npos) << line;
  size_t lines = 0;
  bool saw_session_open = false, saw_audit = false;
  while (std::getline(log, line)) {
    if (line.empty()) continue;
    ++lines;
    JsonValue entry;
    ASSERT_NO_THROW(entry = JsonValue::Parse(line)) << line;
    for (std::string_view key : {"ts", "level", "msg"}) ASSERT_TRUE(entry.Has(key)) << key << " missing: " << line;
    EXPECT_EQ(entry.At("ts").AsString().back(), 'Z') << line;
    const std::string& message = entry.At("msg").AsString();
    if (message.find(" open: ") != std::string::npos && entry.Has("session_id")) {
      saw_session_open = true;
      EXPECT_EQ(entry.At("database").AsString(), db) << line;
      EXPECT_EQ(entry.At("user").AsString(), std::string(kSuperuser)) << line;
      EXPECT_TRUE(entry.Has("client")) << line;
      EXPECT_EQ(entry.At("backend_pid").kind(), JsonValue::Kind::kNumber) << line;
    }
    if (entry.Has("audit")) {
      saw_audit = true;
      EXPECT_TRUE(entry.At("audit").AsBool()) << line;
      EXPECT_EQ(entry.At("command").AsString(), "SHOW VERSION") << line;
      EXPECT_EQ(entry.At("user").AsString(), std::string(kAdminUser)) << line;
    }
  }
  EXPECT_GT(lines, 3u);
  EXPECT_TRUE(saw_session_open) << json.process().Log();
  EXPECT_TRUE(saw_audit) << json.process().Log();
}

}  // namespace
}  // namespace pgvalve::test
