// JSON text and log_format = "json": what a log collector receives.
#include "proxy/json_log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "proxy/json_text.h"
#include "proxy/log_text.h"
#include "tests/support/json_value.h"

namespace pgvalve::proxy {
namespace {

using test::JsonValue;

JsonValue Line(std::string_view message, std::string_view level = "info") {
  const std::string line = FormatJsonLogLine(std::chrono::system_clock::time_point(std::chrono::milliseconds(1500)),
                                             level, message);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line per entry";
  return JsonValue::Parse(line);
}

TEST(JsonLogLineTest, CarriesTimeLevelAndTheTextLine) {
  const JsonValue entry = Line("pgvalve stopped", "warning");
  EXPECT_EQ(entry.At("ts").AsString(), "1970-01-01T00:00:01.500Z");
  EXPECT_EQ(entry.At("level").AsString(), "warning");
  EXPECT_EQ(entry.At("msg").AsString(), "pgvalve stopped");
  EXPECT_EQ(entry.AsObject().size(), 3u);
}

TEST(JsonLogLineTest, ASessionLinesFieldsBecomeKeys) {
  const std::string message = "session 42 open: client=127.0.0.1:5000 database=" + QuoteForLog("app db") +
                              " user=" + QuoteForLog("o\"brien") + " backend_pid=4321 virtual_pid=1073741824";
  const JsonValue entry = Line(message);
  EXPECT_EQ(entry.At("session_id").AsNumberText(), "42");
  EXPECT_EQ(entry.At("client").AsString(), "127.0.0.1:5000");
  EXPECT_EQ(entry.At("database").AsString(), "app db");
  EXPECT_EQ(entry.At("user").AsString(), "o\"brien");
  EXPECT_EQ(entry.At("backend_pid").AsNumberText(), "4321");
  EXPECT_EQ(entry.At("msg").AsString(), message);
}

TEST(JsonLogLineTest, AuditLinesAreMarked) {
  const JsonValue entry = Line("admin audit: user=\"ops\" from=127.0.0.1:1 command=\"DISABLE app\" outcome=ok");
  EXPECT_TRUE(entry.At("audit").AsBool());
  EXPECT_EQ(entry.At("command").AsString(), "DISABLE app");
  EXPECT_EQ(entry.At("outcome").AsString(), "ok");
  EXPECT_FALSE(Line("session 1 closed").Has("audit"));
}

TEST(JsonLogLineTest, FieldsCannotTakeTheObjectsOwnKeys) {
  // A value a client chose stays inside its quotes, and a field named like
  // one of the object's own keys is left in msg only.
  const JsonValue entry = Line("session 7 open: application_name=\"x level=debug msg=y\" level=trace ts=0");
  EXPECT_EQ(entry.At("application_name").AsString(), "x level=debug msg=y");
  EXPECT_EQ(entry.At("level").AsString(), "info");
  EXPECT_EQ(entry.At("ts").AsString(), "1970-01-01T00:00:01.500Z");
}

TEST(JsonLogLineTest, ReadsOnlyWhatLooksLikeAField) {
  const std::vector<LogField> fields =
      LogFieldsOf("pgvalve ready: 2 worker threads, max_client_connections=1000, x==y a=b=c =z Upper=1");
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields[0].key, "max_client_connections");
  EXPECT_EQ(fields[0].value, "1000") << "a trailing comma is punctuation";
  EXPECT_EQ(fields[1].key, "x");
  EXPECT_EQ(fields[1].value, "=y");
  EXPECT_EQ(fields[2].key, "a");
  EXPECT_EQ(fields[2].value, "b=c");
  EXPECT_TRUE(LogFieldsOf("user=\"unclosed").size() == 1u);
}

TEST(JsonLogLineTest, EscapesStayValidJson) {
  const JsonValue entry = Line("client 1: " + EscapeForLog("bad\x01\xff") + " user=" + QuoteForLog("\x07"));
  EXPECT_EQ(entry.At("user").AsString(), "\\x07") << "the text log's escape, kept";
}

TEST(JsonQuotedTest, EscapesWhatJsonRequires) {
  EXPECT_EQ(JsonQuoted("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuoted("line\nnext\ttab\x01"), "\"line\\nnext\\ttab\\u0001\"");
  EXPECT_EQ(JsonQuoted("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

TEST(JsonQuotedTest, ReplacesBytesThatAreNotUtf8) {
  EXPECT_EQ(JsonQuoted("a\xff" "b\xc3"), "\"a\\ufffdb\\ufffd\"");
}

}  // namespace
}  // namespace pgvalve::proxy
