// Limits at the door: nonsense length fields are rejected with 08P01 from the
// header alone, before anything is announced, allocated or forwarded.

#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/message_scanner.h"
#include "protocol/startup_packet.h"
#include "tests/unit/protocol/test_bytes.h"

namespace pgvalve::protocol {
namespace {

using testutil::ByteBuilder;
using testutil::Bytes;
using testutil::IsProtocolViolation;

// Too short to hold themselves, absurdly long, or negative as an Int32.
const std::vector<uint32_t> kNonsenseLengths = {0, 1, 3, 0x7fffffff, 0xffffffff, 0x80000000, 0xfffffffc};

absl::StatusOr<uint32_t> StartupLength(uint32_t value) {
  Bytes field = ByteBuilder().U32(value).bytes();
  return ParseStartupPacketLength(std::span<const std::byte, 4>(field.data(), 4));
}

TEST(StartupPacketLengthTest, NonsenseLengthsAreProtocolViolations) {
  for (uint32_t length : kNonsenseLengths) {
    SCOPED_TRACE(fmt::format("length 0x{:08x}", length));
    EXPECT_THAT(StartupLength(length), IsProtocolViolation());
  }
}

TEST(StartupPacketLengthTest, BoundsAreEightAndTenThousand) {
  // Eight: the length field and the code. Ten thousand: PostgreSQL's
  // MAX_STARTUP_PACKET_LENGTH, which it accepts.
  EXPECT_THAT(StartupLength(4), IsProtocolViolation());
  EXPECT_THAT(StartupLength(7), IsProtocolViolation());
  EXPECT_EQ(StartupLength(8).value(), 8u);
  EXPECT_EQ(StartupLength(16).value(), 16u);
  EXPECT_EQ(StartupLength(10000).value(), 10000u);
  EXPECT_THAT(StartupLength(10001), IsProtocolViolation());
  EXPECT_EQ(kMinStartupPacketLength, 8u);
  EXPECT_EQ(kMaxStartupPacketLength, 10000u);
}

// Streams or inspects, as told, and counts announcements.
struct CountingVisitor {
  MessageAction action = MessageAction::kStream;
  int starts = 0;
  int messages = 0;
  MessageAction OnMessageStart(char, uint32_t) {
    ++starts;
    return action;
  }
  absl::Status OnMessage(char, std::span<std::byte>) {
    ++messages;
    return absl::OkStatus();
  }
};

constexpr uint32_t kMax = 1000;

TEST(MessageScannerLengthTest, NonsenseLengthsAreProtocolViolations) {
  std::vector<uint32_t> lengths = kNonsenseLengths;
  lengths.push_back(kMax + 1);
  for (uint32_t length : lengths) {
    for (MessageAction action : {MessageAction::kStream, MessageAction::kInspect, MessageAction::kHold}) {
      SCOPED_TRACE(fmt::format("length 0x{:08x}, action {}", length, static_cast<int>(action)));
      Bytes header = ByteBuilder().Tag('D').U32(length).Fill(16, 0).bytes();
      MessageScanner scanner(kMax);
      CountingVisitor visitor{.action = action};
      EXPECT_THAT(scanner.Scan(header, 1 << 20, visitor).error, IsProtocolViolation());
      EXPECT_EQ(visitor.starts, 0) << "a bad header must be rejected before it is announced";
    }
  }
}

TEST(MessageScannerLengthTest, BadLengthAfterGoodMessagesIsStillCaught) {
  Bytes input = ByteBuilder().Tag('Z').I32(5).U8('I').Tag('C').U32(3).bytes();
  MessageScanner scanner(kMax);
  CountingVisitor visitor{.action = MessageAction::kInspect};
  EXPECT_THAT(scanner.Scan(input, 1 << 20, visitor).error, IsProtocolViolation());
  EXPECT_EQ(visitor.starts, 1);
}

TEST(MessageScannerLengthTest, MaximumLengthIsAccepted) {
  Bytes input = ByteBuilder().Tag('D').U32(kMax).Fill(kMax - 4, 7).bytes();
  for (MessageAction action : {MessageAction::kStream, MessageAction::kInspect}) {
    MessageScanner scanner(kMax);
    CountingVisitor visitor{.action = action};
    ScanResult result = scanner.Scan(input, input.size(), visitor);
    ASSERT_TRUE(result.error.ok()) << result.error;
    EXPECT_EQ(result.forward, input.size());
    EXPECT_EQ(visitor.starts, 1);
    EXPECT_EQ(visitor.messages, action == MessageAction::kInspect ? 1 : 0);
  }
}

// The server direction's bound: any length an Int32 can hold is framing
// the relay follows (the body streams through), one more is not.
TEST(MessageScannerLengthTest, RepresentableBoundAcceptsInt32MaxOnly) {
  EXPECT_EQ(kMaxRepresentableMessageLength, 0x7fffffffu);
  {
    Bytes header = ByteBuilder().Tag('D').U32(0x7fffffff).Fill(16, 0).bytes();
    MessageScanner scanner(kMaxRepresentableMessageLength);
    CountingVisitor visitor{.action = MessageAction::kStream};
    ScanResult result = scanner.Scan(header, 1 << 20, visitor);
    ASSERT_TRUE(result.error.ok()) << result.error;
    EXPECT_EQ(result.stop, ScanStop::kNeedMore);
    EXPECT_EQ(result.forward, header.size());
    EXPECT_FALSE(scanner.AtMessageBoundary());
  }
  for (uint32_t length : {0x80000000u, 0xfffffffcu, 0xffffffffu}) {
    SCOPED_TRACE(fmt::format("length 0x{:08x}", length));
    Bytes header = ByteBuilder().Tag('D').U32(length).Fill(16, 0).bytes();
    MessageScanner scanner(kMaxRepresentableMessageLength);
    CountingVisitor visitor{.action = MessageAction::kStream};
    EXPECT_THAT(scanner.Scan(header, 1 << 20, visitor).error, IsProtocolViolation());
    EXPECT_EQ(visitor.starts, 0);
  }
}

TEST(MessageScannerLengthTest, SmallestLengthIsFour) {
  Bytes input = ByteBuilder().Tag('1').U32(4).Tag('2').U32(4).bytes();
  MessageScanner scanner(kMax);
  CountingVisitor visitor{.action = MessageAction::kInspect};
  ScanResult result = scanner.Scan(input, 64, visitor);
  ASSERT_TRUE(result.error.ok()) << result.error;
  EXPECT_EQ(result.forward, 10u);
  EXPECT_EQ(visitor.messages, 2);
}

}  // namespace
}  // namespace pgvalve::protocol
