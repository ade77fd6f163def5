// The tag table against the PostgreSQL 15 "Message Formats" page, written out
// independently of the X-macro so a slip in the table (such as 'C' for
// CloseComplete) shows up here.

#include "protocol/message_tags.h"

#include <set>
#include <string_view>
#include <vector>

#include "fmt/format.h"
#include "gtest/gtest.h"

namespace pgvalve::protocol {
namespace {

struct TagRow {
  char byte;
  std::string_view name;
};

// https://www.postgresql.org/docs/15/protocol-message-formats.html, messages
// marked (F). The startup family has no tag; GSSResponse, SASLInitialResponse
// and SASLResponse share 'p' with PasswordMessage.
const std::vector<TagRow> kFrontendRows = {
    {'B', "Bind"},     {'C', "Close"},        {'d', "CopyData"}, {'c', "CopyDone"},
    {'f', "CopyFail"}, {'D', "Describe"},     {'E', "Execute"},  {'H', "Flush"},
    {'F', "FunctionCall"}, {'P', "Parse"},    {'p', "PasswordMessage"},
    {'Q', "Query"},    {'S', "Sync"},         {'X', "Terminate"},
};

// Messages marked (B).
const std::vector<TagRow> kBackendRows = {
    {'R', "Authentication"},     {'K', "BackendKeyData"},
    {'2', "BindComplete"},       {'3', "CloseComplete"},
    {'C', "CommandComplete"},    {'d', "CopyData"},
    {'c', "CopyDone"},           {'G', "CopyInResponse"},
    {'H', "CopyOutResponse"},    {'W', "CopyBothResponse"},
    {'D', "DataRow"},            {'I', "EmptyQueryResponse"},
    {'E', "ErrorResponse"},      {'V', "FunctionCallResponse"},
    {'v', "NegotiateProtocolVersion"}, {'n', "NoData"},
    {'N', "NoticeResponse"},     {'A', "NotificationResponse"},
    {'t', "ParameterDescription"}, {'S', "ParameterStatus"},
    {'1', "ParseComplete"},      {'s', "PortalSuspended"},
    {'Z', "ReadyForQuery"},      {'T', "RowDescription"},
};

TEST(MessageTagsTest, EveryFrontendTagHasItsDocumentedByteAndName) {
  for (const TagRow& row : kFrontendRows) {
    SCOPED_TRACE(fmt::format("'{}' {}", row.byte, row.name));
    EXPECT_TRUE(IsFrontendTag(row.byte));
    EXPECT_EQ(TagName(static_cast<FrontendTag>(row.byte)), row.name);
  }
}

TEST(MessageTagsTest, EveryBackendTagHasItsDocumentedByteAndName) {
  for (const TagRow& row : kBackendRows) {
    SCOPED_TRACE(fmt::format("'{}' {}", row.byte, row.name));
    EXPECT_TRUE(IsBackendTag(row.byte));
    EXPECT_EQ(TagName(static_cast<BackendTag>(row.byte)), row.name);
  }
}

// No byte outside the documented lists counts as a tag of that direction.
TEST(MessageTagsTest, NoOtherByteIsATag) {
  std::set<char> frontend;
  std::set<char> backend;
  for (const TagRow& row : kFrontendRows) frontend.insert(row.byte);
  for (const TagRow& row : kBackendRows) backend.insert(row.byte);
  for (int value = 0; value < 256; ++value) {
    const char byte = static_cast<char>(value);
    SCOPED_TRACE(fmt::format("byte 0x{:02x}", value));
    EXPECT_EQ(IsFrontendTag(byte), frontend.count(byte) == 1);
    EXPECT_EQ(IsBackendTag(byte), backend.count(byte) == 1);
    if (frontend.count(byte) == 0) {
      EXPECT_EQ(TagName(static_cast<FrontendTag>(byte)), "Unknown");
    }
    if (backend.count(byte) == 0) {
      EXPECT_EQ(TagName(static_cast<BackendTag>(byte)), "Unknown");
    }
  }
}

TEST(MessageTagsTest, NotTags) {
  for (char byte : {'\0', 'z', 'x', '0', '4', '\x7f', '\xff', ' '}) {
    SCOPED_TRACE(fmt::format("byte 0x{:02x}", static_cast<unsigned char>(byte)));
    EXPECT_FALSE(IsFrontendTag(byte));
    EXPECT_FALSE(IsBackendTag(byte));
  }
  // Each direction's own tags are not automatically the other's.
  EXPECT_FALSE(IsBackendTag('Q'));
  EXPECT_FALSE(IsBackendTag('X'));
  EXPECT_FALSE(IsFrontendTag('Z'));
  EXPECT_FALSE(IsFrontendTag('3'));
}

TEST(MessageTagsTest, TagsThatAreEasyToConfuse) {
  // ClickHouse once sent 'C' (CommandComplete) where CloseComplete is '3'.
  static_assert(static_cast<char>(BackendTag::kCloseComplete) == '3');
  static_assert(static_cast<char>(BackendTag::kCommandComplete) == 'C');
  static_assert(static_cast<char>(FrontendTag::kClose) == 'C');
  static_assert(static_cast<char>(BackendTag::kCopyOutResponse) == 'H');
  static_assert(static_cast<char>(FrontendTag::kFlush) == 'H');
  static_assert(static_cast<char>(BackendTag::kNoData) == 'n');
  static_assert(static_cast<char>(BackendTag::kNoticeResponse) == 'N');
  static_assert(static_cast<char>(BackendTag::kNegotiateProtocolVersion) == 'v');
  static_assert(static_cast<char>(BackendTag::kFunctionCallResponse) == 'V');
  static_assert(static_cast<char>(BackendTag::kPortalSuspended) == 's');
  static_assert(static_cast<char>(FrontendTag::kSync) == 'S');
  static_assert(TagName(BackendTag::kCloseComplete) == "CloseComplete");
  static_assert(IsBackendTag('3') && !IsBackendTag('z'));
  EXPECT_EQ(kFrontendRows.size(), 14u);
  EXPECT_EQ(kBackendRows.size(), 24u);
}

}  // namespace
}  // namespace pgvalve::protocol
