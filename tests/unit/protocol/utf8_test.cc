// Finding where a text stops being UTF-8, and PostgreSQL's words for it.

#include "protocol/utf8.h"

#include <gtest/gtest.h>

namespace pgvalve::protocol {
namespace {

TEST(Utf8, ValidTextHasNoInvalidByte) {
  EXPECT_EQ(FirstInvalidUtf8(""), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8("plain ascii"), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x98"), std::nullopt);
}

TEST(Utf8, FindsTheFirstByteThatDoesNotFit) {
  EXPECT_EQ(FirstInvalidUtf8("caf\xe9 closed"), 3u);        // Latin-1
  EXPECT_EQ(FirstInvalidUtf8("ok\x80"), 2u);                 // a stray continuation byte
  EXPECT_EQ(FirstInvalidUtf8("ok\xe2\x82"), 2u);             // cut short at the end
  EXPECT_EQ(FirstInvalidUtf8("ok\xc3\xa9\xc3("), 4u);        // continuation missing
  EXPECT_EQ(FirstInvalidUtf8("\xff"), 0u);                   // never a lead byte
}

TEST(Utf8, MessageNamesTheBytesAsPostgresDoes) {
  // 0xe9 announces three bytes; PostgreSQL shows as many as the text has.
  EXPECT_EQ(InvalidUtf8Message("caf\xe9 closed", 3),
            "invalid byte sequence for encoding \"UTF8\": 0xe9 0x20 0x63");
  EXPECT_EQ(InvalidUtf8Message("\x80", 0), "invalid byte sequence for encoding \"UTF8\": 0x80");
  EXPECT_EQ(InvalidUtf8Message("ok\xc3(", 2), "invalid byte sequence for encoding \"UTF8\": 0xc3 0x28");
  EXPECT_EQ(InvalidUtf8Message("ok\xe2\x82", 2), "invalid byte sequence for encoding \"UTF8\": 0xe2 0x82");
}

}  // namespace
}  // namespace pgvalve::protocol
