// MessageReader is the one bounded cursor every parser uses, so each getter
// is exercised at every distance from the end of the body: it must succeed
// exactly when enough bytes are left, fail with 08P01 otherwise, and leave
// the cursor where it was when it fails.

#include "protocol/message_reader.h"

#include <cstdint>
#include <limits>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/protocol/test_bytes.h"

namespace pgvalve::protocol {
namespace {

using testutil::AsSpan;
using testutil::Bytes;
using testutil::CountingBytes;
using testutil::IsProtocolViolation;
using ::testing::HasSubstr;

// Bodies of every size up to this one, read from every starting offset.
constexpr size_t kLongestBody = 9;

// Runs `read` on a reader over `size` bytes that already consumed `start`,
// and checks it succeeds exactly when `needed` bytes are left.
template <typename Read>
void CheckAtEveryBoundary(size_t needed, Read read) {
  for (size_t size = 0; size <= kLongestBody; ++size) {
    Bytes body = CountingBytes(size, 0x10);
    for (size_t start = 0; start <= size; ++start) {
      SCOPED_TRACE(fmt::format("body of {} bytes, cursor at {}", size, start));
      MessageReader reader(body, "Test");
      ASSERT_TRUE(reader.ReadBytes(start).ok());
      const bool fits = size - start >= needed;
      absl::Status status = read(reader, body, start);
      if (fits) {
        EXPECT_TRUE(status.ok()) << status;
        EXPECT_EQ(reader.remaining(), size - start - needed);
      } else {
        EXPECT_THAT(status, IsProtocolViolation());
        EXPECT_EQ(reader.remaining(), size - start) << "a failed read moved the cursor";
      }
    }
  }
}

TEST(MessageReaderTest, ReadByteAtEveryBoundary) {
  CheckAtEveryBoundary(1, [](MessageReader& reader, const Bytes& body, size_t start) {
    absl::StatusOr<uint8_t> value = reader.ReadByte();
    if (value.ok()) {
      EXPECT_EQ(*value, static_cast<uint8_t>(body[start]));
    }
    return value.status();
  });
}

TEST(MessageReaderTest, ReadInt16AtEveryBoundary) {
  CheckAtEveryBoundary(2, [](MessageReader& reader, const Bytes& body, size_t start) {
    absl::StatusOr<int16_t> value = reader.ReadInt16();
    if (value.ok()) {
      auto expected = static_cast<int16_t>((static_cast<unsigned>(body[start]) << 8) |
                                           static_cast<unsigned>(body[start + 1]));
      EXPECT_EQ(*value, expected);
    }
    return value.status();
  });
}

TEST(MessageReaderTest, ReadInt32AtEveryBoundary) {
  CheckAtEveryBoundary(4, [](MessageReader& reader, const Bytes& body, size_t start) {
    absl::StatusOr<int32_t> value = reader.ReadInt32();
    if (value.ok()) {
      EXPECT_EQ(static_cast<uint32_t>(*value), LoadBigEndian32(body.data() + start));
    }
    return value.status();
  });
}

TEST(MessageReaderTest, ReadBytesAtEveryBoundary) {
  for (size_t count = 0; count <= kLongestBody + 1; ++count) {
    SCOPED_TRACE(fmt::format("ReadBytes({})", count));
    CheckAtEveryBoundary(count, [count](MessageReader& reader, const Bytes& body, size_t start) {
      absl::StatusOr<std::span<const std::byte>> value = reader.ReadBytes(count);
      if (value.ok()) {
        EXPECT_EQ(value->size(), count);
        EXPECT_EQ(value->data(), body.data() + start) << "ReadBytes must return a view, not a copy";
      }
      return value.status();
    });
  }
}

TEST(MessageReaderTest, ReadBytesWithHugeCountFails) {
  Bytes body = CountingBytes(8);
  MessageReader reader(body, "Test");
  EXPECT_THAT(reader.ReadBytes(std::numeric_limits<size_t>::max()).status(), IsProtocolViolation());
  EXPECT_THAT(reader.ReadBytes(9).status(), IsProtocolViolation());
  EXPECT_EQ(reader.remaining(), 8u);
}

TEST(MessageReaderTest, ReadCStringAtEveryTerminatorPosition) {
  // A NUL at `nul` in a body of `size` bytes: the string ends there; with no
  // NUL after the cursor the read fails and does not move.
  for (size_t size = 0; size <= kLongestBody; ++size) {
    for (size_t nul = 0; nul <= size; ++nul) {  // nul == size: no terminator
      Bytes body(size, std::byte{'a'});
      if (nul < size) body[nul] = std::byte{0};
      for (size_t start = 0; start <= size; ++start) {
        SCOPED_TRACE(fmt::format("size {}, NUL at {}, cursor at {}", size, nul, start));
        MessageReader reader(body, "Test");
        ASSERT_TRUE(reader.ReadBytes(start).ok());
        absl::StatusOr<std::string_view> text = reader.ReadCString();
        if (nul < size && start <= nul) {
          ASSERT_TRUE(text.ok()) << text.status();
          EXPECT_EQ(text->size(), nul - start);
          EXPECT_EQ(static_cast<const void*>(text->data()), static_cast<const void*>(body.data() + start));
          EXPECT_EQ(reader.remaining(), size - nul - 1);
        } else {
          EXPECT_THAT(text.status(), IsProtocolViolation());
          EXPECT_EQ(reader.remaining(), size - start);
        }
      }
    }
  }
}

TEST(MessageReaderTest, ReadCStringWithoutTerminatorFails) {
  MessageReader reader(AsSpan("user"), "StartupMessage");
  absl::StatusOr<std::string_view> text = reader.ReadCString();
  EXPECT_THAT(text.status(), IsProtocolViolation());
  EXPECT_THAT(text.status().message(), HasSubstr("StartupMessage"));
  EXPECT_EQ(reader.remaining(), 4u);
}

TEST(MessageReaderTest, ReadCStringOfEmptyStringAndConsecutiveStrings) {
  constexpr std::string_view kBody("\0name\0\0", 7);
  MessageReader reader(AsSpan(kBody), "Test");
  EXPECT_EQ(reader.ReadCString().value(), "");
  EXPECT_EQ(reader.ReadCString().value(), "name");
  EXPECT_EQ(reader.ReadCString().value(), "");
  EXPECT_TRUE(reader.AtEnd());
  EXPECT_THAT(reader.ReadCString().status(), IsProtocolViolation());
}

TEST(MessageReaderTest, EmptyInputFailsEveryGetter) {
  MessageReader reader({}, "Empty");
  EXPECT_TRUE(reader.AtEnd());
  EXPECT_EQ(reader.remaining(), 0u);
  EXPECT_THAT(reader.ReadByte().status(), IsProtocolViolation());
  EXPECT_THAT(reader.ReadInt16().status(), IsProtocolViolation());
  EXPECT_THAT(reader.ReadInt32().status(), IsProtocolViolation());
  EXPECT_THAT(reader.ReadCString().status(), IsProtocolViolation());
  EXPECT_THAT(reader.ReadBytes(1).status(), IsProtocolViolation());
  EXPECT_TRUE(reader.ReadBytes(0).ok());
  EXPECT_TRUE(reader.ReadRest().empty());
  EXPECT_TRUE(reader.ExpectEnd().ok());
}

TEST(MessageReaderTest, IntegersAreBigEndianAndSigned) {
  testutil::ByteBuilder body;
  body.U8(0x80).U8(0x00);                        // Int16 -32768
  body.U8(0xff).U8(0xfe);                        // Int16 -2
  body.U8(0x7f).U8(0xff).U8(0xff).U8(0xff);      // Int32 2^31-1
  body.U8(0x80).U8(0x00).U8(0x00).U8(0x00);      // Int32 -2^31
  body.U8(0xff).U8(0xff).U8(0xff).U8(0xff);      // Int32 -1
  body.U8(0x00).U8(0x03).U8(0x00).U8(0x02);      // Int32 196610 (protocol 3.2)
  body.U8(0xe9);                                 // Byte 233
  MessageReader reader(body.bytes(), "Test");
  EXPECT_EQ(reader.ReadInt16().value(), -32768);
  EXPECT_EQ(reader.ReadInt16().value(), -2);
  EXPECT_EQ(reader.ReadInt32().value(), std::numeric_limits<int32_t>::max());
  EXPECT_EQ(reader.ReadInt32().value(), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(reader.ReadInt32().value(), -1);
  EXPECT_EQ(reader.ReadInt32().value(), (3 << 16) | 2);
  EXPECT_EQ(reader.ReadByte().value(), 0xe9);
  EXPECT_TRUE(reader.ExpectEnd().ok());
}

TEST(MessageReaderTest, ReadRestTakesEverythingLeft) {
  Bytes body = CountingBytes(6);
  MessageReader reader(body, "Test");
  ASSERT_TRUE(reader.ReadInt16().ok());
  std::span<const std::byte> rest = reader.ReadRest();
  EXPECT_EQ(rest.data(), body.data() + 2);
  EXPECT_EQ(rest.size(), 4u);
  EXPECT_TRUE(reader.AtEnd());
  EXPECT_TRUE(reader.ReadRest().empty());
  EXPECT_TRUE(reader.ExpectEnd().ok());
}

TEST(MessageReaderTest, PeekByteDoesNotConsume) {
  Bytes body = CountingBytes(2, 0x41);
  MessageReader reader(body, "Test");
  EXPECT_EQ(reader.PeekByte(), 0x41);
  EXPECT_EQ(reader.PeekByte(), 0x41);
  EXPECT_EQ(reader.remaining(), 2u);
  EXPECT_EQ(reader.ReadByte().value(), 0x41);
  EXPECT_EQ(reader.PeekByte(), 0x42);
}

TEST(MessageReaderTest, ExpectEndRejectsEveryAmountOfTrailingBytes) {
  for (size_t size = 1; size <= kLongestBody; ++size) {
    Bytes body = CountingBytes(size);
    for (size_t start = 0; start <= size; ++start) {
      SCOPED_TRACE(fmt::format("size {}, cursor at {}", size, start));
      MessageReader reader(body, "ReadyForQuery");
      ASSERT_TRUE(reader.ReadBytes(start).ok());
      absl::Status end = reader.ExpectEnd();
      if (start == size) {
        EXPECT_TRUE(end.ok()) << end;
      } else {
        EXPECT_THAT(end, IsProtocolViolation());
        EXPECT_THAT(end.message(), HasSubstr("ReadyForQuery"));
        EXPECT_THAT(end.message(), HasSubstr(fmt::format("{} unexpected trailing", size - start)));
      }
    }
  }
}

TEST(MessageReaderTest, BigEndianHelpers) {
  std::byte bytes[4];
  for (uint32_t value : {0u, 1u, 0x7fffffffu, 0x80000000u, 0xffffffffu, 0x01020304u}) {
    StoreBigEndian32(bytes, value);
    EXPECT_EQ(LoadBigEndian32(bytes), value);
  }
  StoreBigEndian32(bytes, 0x01020304u);
  EXPECT_EQ(bytes[0], std::byte{1});
  EXPECT_EQ(bytes[3], std::byte{4});
  EXPECT_EQ(LoadBigEndian16(bytes), 0x0102);
}

}  // namespace
}  // namespace pgvalve::protocol
