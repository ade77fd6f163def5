// MessageWriter: Begin() reserves the length and End() back-patches it. The
// expected bytes are spelled out by hand so a wrong length cannot hide
// behind a matching reader.

#include "protocol/message_writer.h"

#include <cstdint>
#include <string_view>

#include "gtest/gtest.h"
#include "tests/unit/protocol/test_bytes.h"

namespace pgvalve::protocol {
namespace {

using testutil::ByteBuilder;
using testutil::Bytes;
using testutil::CountingBytes;
using testutil::Hex;

TEST(MessageWriterTest, EmptyTaggedMessageHasLengthFour) {
  MessageWriter writer;
  writer.Begin(BackendTag::kEmptyQueryResponse).End();
  EXPECT_EQ(Hex(writer.bytes()), Hex(ByteBuilder().Tag('I').I32(4).bytes()));
}

TEST(MessageWriterTest, TaggedLengthCountsItselfButNotTheTag) {
  MessageWriter writer;
  writer.Begin(BackendTag::kReadyForQuery).Byte('I').End();
  EXPECT_EQ(Hex(writer.bytes()), Hex(ByteBuilder().Tag('Z').I32(5).U8('I').bytes()));
}

TEST(MessageWriterTest, FrontendTaggedMessage) {
  MessageWriter writer;
  writer.Begin(FrontendTag::kQuery).CString("SELECT 1").End();
  EXPECT_EQ(Hex(writer.bytes()), Hex(ByteBuilder().Tag('Q').I32(4 + 9).Str("SELECT 1").bytes()));
}

TEST(MessageWriterTest, UntaggedLengthCountsItself) {
  // SSLRequest: Int32(8), Int32(80877103).
  MessageWriter writer;
  writer.BeginUntagged().Int32(80877103).End();
  EXPECT_EQ(Hex(writer.bytes()), Hex(ByteBuilder().I32(8).U8(0x04).U8(0xd2).U8(0x16).U8(0x2f).bytes()));
}

TEST(MessageWriterTest, SeveralMessagesEachGetTheirOwnLength) {
  MessageWriter writer;
  writer.Begin(BackendTag::kParameterStatus).CString("TimeZone").CString("UTC").End();
  writer.Begin(BackendTag::kBackendKeyData).Int32(42).Int32(-7).End();
  writer.BeginUntagged().Int32(80877103).End();
  writer.Begin(BackendTag::kReadyForQuery).Byte('T').End();
  ByteBuilder expected;
  expected.Tag('S').I32(4 + 9 + 4).Str("TimeZone").Str("UTC");
  expected.Tag('K').I32(12).I32(42).I32(-7);
  expected.I32(8).I32(80877103);
  expected.Tag('Z').I32(5).U8('T');
  EXPECT_EQ(Hex(writer.bytes()), Hex(expected.bytes()));
}

TEST(MessageWriterTest, LengthAboveSixteenBits) {
  // A length whose every byte is non-zero catches a patch written to the
  // wrong offset or in the wrong byte order.
  constexpr size_t kBody = 0x010203 - 4;
  MessageWriter writer;
  writer.Begin(BackendTag::kDataRow).Bytes(CountingBytes(kBody)).End();
  ASSERT_EQ(writer.bytes().size(), 1 + 0x010203u);
  EXPECT_EQ(Hex(writer.bytes().first(5)), "44 00 01 02 03");
}

TEST(MessageWriterTest, IntegersAreBigEndianTwosComplement) {
  MessageWriter writer;
  writer.Int16(-2).Int16(0x1234).Int32(-1).Int32(0x01020304).Int32(INT32_MIN).Byte(0xff);
  EXPECT_EQ(Hex(writer.bytes()), "ff fe 12 34 ff ff ff ff 01 02 03 04 80 00 00 00 ff");
}

TEST(MessageWriterTest, CStringWithEmbeddedNulStopsAtTheNul) {
  // The peer would read "ab" and take "cd" as the next field; writing only
  // the part before the NUL keeps every later field where it belongs.
  MessageWriter writer;
  writer.Begin(BackendTag::kParameterStatus)
      .CString(std::string_view("ab\0cd", 5))
      .CString("value")
      .End();
  EXPECT_EQ(Hex(writer.bytes()), Hex(ByteBuilder().Tag('S').I32(4 + 3 + 6).Str("ab").Str("value").bytes()));
}

TEST(MessageWriterTest, CStringEmptyAndLeadingNul) {
  MessageWriter writer;
  writer.CString("").CString(std::string_view("\0x", 2));
  EXPECT_EQ(Hex(writer.bytes()), "00 00");
}

TEST(MessageWriterTest, BytesFromSpanAndStringAreVerbatim) {
  MessageWriter writer;
  Bytes raw = CountingBytes(3, 0xfd);  // fd fe ff
  writer.Bytes(raw).Bytes(std::string_view("a\0b", 3));
  EXPECT_EQ(Hex(writer.bytes()), "fd fe ff 61 00 62");
  EXPECT_EQ(writer.view(), std::string_view("\xfd\xfe\xff" "a\0b", 6));
}

TEST(MessageWriterTest, ClearStartsOver) {
  MessageWriter writer;
  EXPECT_TRUE(writer.empty());
  writer.Begin(BackendTag::kReadyForQuery).Byte('I').End();
  EXPECT_FALSE(writer.empty());
  writer.Clear();
  EXPECT_TRUE(writer.empty());
  // A message left open before Clear() must not leave a stale patch offset.
  writer.Begin(BackendTag::kCommandComplete).CString("half");
  writer.Clear();
  writer.Begin(BackendTag::kReadyForQuery).Byte('E').End();
  EXPECT_EQ(Hex(writer.bytes()), Hex(ByteBuilder().Tag('Z').I32(5).U8('E').bytes()));
}

TEST(MessageWriterDeathTest, BeginWhileAMessageIsOpenAssertsInDebugBuilds) {
  MessageWriter writer;
  writer.Begin(BackendTag::kReadyForQuery);
  EXPECT_DEBUG_DEATH(writer.Begin(BackendTag::kReadyForQuery), "Begin\\(\\) without End\\(\\)");
}

}  // namespace
}  // namespace pgvalve::protocol
