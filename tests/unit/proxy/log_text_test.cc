#include "proxy/log_text.h"

#include <gtest/gtest.h>

#include <string>

namespace pgvalve::proxy {
namespace {

TEST(LogText, PlainTextIsKept) {
  EXPECT_EQ(EscapeForLog("app_db user-1 psql"), "app_db user-1 psql");
  EXPECT_EQ(QuoteForLog(""), "\"\"");
  EXPECT_EQ(QuoteForLog("my app"), "\"my app\"");
}

TEST(LogText, NewlinesCannotStartAForgedLine) {
  const std::string forged =
      "x\n2026-12-05 10:00:00.000 [info] admin audit: user=admin command=\"ENABLE app\"";
  const std::string escaped = EscapeForLog(forged);
  EXPECT_EQ(escaped.find('\n'), std::string::npos);
  EXPECT_EQ(escaped.substr(0, 5), "x\\x0a");
  EXPECT_NE(escaped.find("command=\\\"ENABLE app\\\""), std::string::npos) << escaped;
}

TEST(LogText, QuotesAndBackslashesCannotEndTheField) {
  EXPECT_EQ(QuoteForLog("a\"b\\c"), "\"a\\\"b\\\\c\"");
}

TEST(LogText, ControlCharactersAreEscaped) {
  EXPECT_EQ(EscapeForLog("\x1b[31mred\r\t\x7f"), "\\x1b[31mred\\x0d\\x09\\x7f");
  EXPECT_EQ(EscapeForLog(std::string("a\0b", 3)), "a\\x00b");
  // C1 controls (here CSI, U+009B) are valid UTF-8 but act on terminals.
  EXPECT_EQ(EscapeForLog("\xc2\x9b" "2J"), "\\xc2\\x9b2J");
}

TEST(LogText, ValidUtf8IsKept) {
  EXPECT_EQ(EscapeForLog("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\x98 \xc2\xa0"),
            "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\x98 \xc2\xa0");
}

TEST(LogText, InvalidUtf8BecomesHexEscapes) {
  EXPECT_EQ(EscapeForLog("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(EscapeForLog("a\xc3"), "a\\xc3");                    // truncated sequence
  EXPECT_EQ(EscapeForLog("\xc3(x"), "\\xc3(x");                  // bad continuation
  EXPECT_EQ(EscapeForLog("\xc0\xaf"), "\\xc0\\xaf");             // overlong '/'
  EXPECT_EQ(EscapeForLog("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");     // overlong, 3 bytes
  EXPECT_EQ(EscapeForLog("\xed\xa0\x80"), "\\xed\\xa0\\x80");     // a surrogate
  EXPECT_EQ(EscapeForLog("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(EscapeForLog("\x80"), "\\x80");                      // lone continuation
}

// Every byte value alone and after every lead byte: the result is always
// printable ASCII or valid UTF-8 and never holds a raw control character.
TEST(LogText, EveryByteAndPairEscapesToOneLine) {
  for (int first = 0; first < 256; ++first) {
    for (int second = 0; second < 256; ++second) {
      const std::string input{static_cast<char>(first), static_cast<char>(second)};
      const std::string escaped = EscapeForLog(input);
      for (char c : escaped) {
        const auto byte = static_cast<unsigned char>(c);
        ASSERT_FALSE(byte < 0x20 || byte == 0x7f) << first << " " << second;
      }
      // \xNN is the longest form: four output bytes per input byte.
      ASSERT_LE(escaped.size(), 8u);
    }
  }
}

}  // namespace
}  // namespace pgvalve::proxy
