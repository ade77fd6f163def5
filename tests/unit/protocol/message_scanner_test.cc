// MessageScanner driven the way the relay drives it (relay_model.h), over a
// realistic backend session split at every possible chunk boundary and at
// random ones. Whatever the chunking, the forwarded bytes must equal the
// input, every message must be announced once and in order, inspected
// messages must arrive whole and may be rewritten in place, and
// AtMessageBoundary() must be true exactly between messages.

#include "protocol/message_scanner.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iostream>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/backend_writer.h"
#include "protocol/sqlstate.h"
#include "tests/unit/protocol/relay_model.h"
#include "tests/unit/protocol/test_bytes.h"

namespace pgvalve::protocol {
namespace {

using testutil::ByteBuilder;
using testutil::Bytes;
using testutil::CountingBytes;
using testutil::HasSqlState;
using testutil::Hex;
using testutil::IsProtocolViolation;
using testutil::RelayOptions;
using testutil::RelayTrace;
using testutil::RunRelay;
using testutil::SplitMessage;
using testutil::SplitStream;

constexpr uint32_t kMaxMessageLength = 1 << 24;
constexpr size_t kRelayCapacity = 8192;
// What the relay parses (style guide, convention 5).
const std::set<char> kRelayInspects = {
    static_cast<char>(BackendTag::kAuthentication),  static_cast<char>(BackendTag::kBackendKeyData),
    static_cast<char>(BackendTag::kParameterStatus), static_cast<char>(BackendTag::kReadyForQuery),
    static_cast<char>(BackendTag::kErrorResponse),   static_cast<char>(BackendTag::kNoticeResponse),
    static_cast<char>(BackendTag::kNegotiateProtocolVersion),
};

// Records what the scanner tells it; answers as configured.
class ScriptedVisitor {
 public:
  struct Start {
    char tag;
    uint32_t length;
  };

  std::set<char> inspect = kRelayInspects;
  // Messages (by index in the stream) answered kHold on their first offer.
  std::set<size_t> hold_once;
  std::function<absl::Status(char, std::span<std::byte>)> on_message;

  // The non-hold answers, in order: one per message.
  std::vector<Start> starts;
  size_t offers = 0;
  std::vector<std::pair<char, Bytes>> inspected;

  MessageAction OnMessageStart(char tag, uint32_t length) {
    ++offers;
    const size_t index = starts.size();
    if (hold_once.count(index) == 1 && held_.insert(index).second) return MessageAction::kHold;
    starts.push_back({tag, length});
    return inspect.count(tag) == 1 ? MessageAction::kInspect : MessageAction::kStream;
  }

  absl::Status OnMessage(char tag, std::span<std::byte> body) {
    inspected.emplace_back(tag, Bytes(body.begin(), body.end()));
    return on_message ? on_message(tag, body) : absl::OkStatus();
  }

 private:
  std::set<size_t> held_;
};
static_assert(MessageVisitor<ScriptedVisitor>);

ErrorSpec Error(Severity severity, std::string_view sqlstate, std::string_view message,
                std::string_view detail = "", std::string_view hint = "") {
  return ErrorSpec{
      .severity = severity, .sqlstate = sqlstate, .message = message, .detail = detail, .hint = hint};
}

// A backend session as a client sees it: authentication, parameters, key,
// a result set with one wide row, notices and errors, and the messages with
// an empty body.
Bytes BackendSession() {
  MessageWriter writer;
  AppendAuthentication(writer, AuthenticationCode::kOk);
  AppendParameterStatus(writer, "server_version", "15.4");
  AppendParameterStatus(writer, "client_encoding", "UTF8");
  AppendParameterStatus(writer, "application_name", "");
  AppendBackendKeyData(writer, 0x01020304, CountingBytes(4, 0xa0));
  AppendReadyForQuery(writer, TransactionStatus::kIdle);
  const ColumnSpec columns[] = {{"id", ColumnType::kInt4}, {"payload", ColumnType::kText}};
  AppendRowDescription(writer, columns);
  const std::string wide(300, 'w');
  const std::optional<std::string_view> rows[][2] = {{"1", "a"}, {"2", std::nullopt}, {"3", wide}};
  for (const auto& row : rows) AppendDataRow(writer, row);
  AppendCommandComplete(writer, "SELECT 3");
  writer.Begin(BackendTag::kParseComplete).End();
  writer.Begin(BackendTag::kBindComplete).End();
  writer.Begin(BackendTag::kNoData).End();
  AppendNoticeResponse(writer, Error(Severity::kWarning, "01000", "careful"));
  AppendErrorResponse(writer, Error(Severity::kError, "42P01", "no such table", "d", "h"));
  AppendReadyForQuery(writer, TransactionStatus::kFailed);
  writer.Begin(BackendTag::kNegotiateProtocolVersion).Int32(3 << 16).Int32(1).CString("_pq_.x").End();
  writer.Begin(BackendTag::kNotificationResponse).Int32(77).CString("chan").CString("hello").End();
  AppendEmptyQueryResponse(writer);
  AppendReadyForQuery(writer, TransactionStatus::kIdle);
  return Bytes(writer.bytes().begin(), writer.bytes().end());
}

std::string FirstDifference(std::span<const std::byte> actual, std::span<const std::byte> expected) {
  const size_t common = std::min(actual.size(), expected.size());
  for (size_t i = 0; i < common; ++i) {
    if (actual[i] != expected[i]) {
      return fmt::format("first difference at byte {}: {:02x} instead of {:02x}", i,
                         static_cast<uint8_t>(actual[i]), static_cast<uint8_t>(expected[i]));
    }
  }
  if (actual.size() != expected.size()) {
    return fmt::format("{} bytes instead of {}", actual.size(), expected.size());
  }
  return "equal";
}

// Returns a chunker that yields `sizes` in turn, then repeats the last one.
std::function<size_t()> Chunks(std::vector<size_t> sizes) {
  return [sizes = std::move(sizes), next = size_t{0}]() mutable {
    return sizes[std::min(next++, sizes.size() - 1)];
  };
}

RelayOptions Relay(size_t capacity, std::function<size_t()> next_chunk) {
  RelayOptions options;
  options.capacity = capacity;
  options.next_chunk = std::move(next_chunk);
  return options;
}

size_t LargestInspectedTotal(const std::vector<SplitMessage>& messages, const std::set<char>& inspect) {
  size_t largest = kMessageHeaderSize;
  for (const SplitMessage& m : messages) {
    if (inspect.count(m.tag) == 1) largest = std::max<size_t>(largest, 1 + m.length);
  }
  return largest;
}

// Runs `input` through the relay model and checks every invariant against
// an independent split of the input. `expected_output` is the input with any
// rewrites applied.
void RunAndCheck(std::span<const std::byte> input, std::span<const std::byte> expected_output,
                 ScriptedVisitor& visitor, RelayOptions options) {
  const std::vector<SplitMessage> messages = SplitStream(input);
  std::set<size_t> boundaries = {0};
  for (const SplitMessage& m : messages) boundaries.insert(m.end());

  MessageScanner scanner(kMaxMessageLength);
  EXPECT_TRUE(scanner.AtMessageBoundary());
  std::vector<size_t> boundary_errors;
  std::vector<size_t> misplaced_holds;
  options.after_scan = [&](const MessageScanner& s, const ScanResult& result, size_t forwarded) {
    if (s.AtMessageBoundary() != (boundaries.count(forwarded) == 1)) boundary_errors.push_back(forwarded);
    if (result.stop == ScanStop::kHeld) {
      // Held exactly before the next message to be announced.
      const size_t next = visitor.starts.size();
      if (next >= messages.size() || messages[next].offset != forwarded) misplaced_holds.push_back(forwarded);
    }
  };
  RelayTrace trace = RunRelay(input, scanner, visitor, options);

  ASSERT_TRUE(trace.status.ok()) << trace.status;
  EXPECT_FALSE(trace.forward_out_of_range);
  EXPECT_FALSE(trace.held_forever);
  EXPECT_EQ(trace.unread, 0u);
  EXPECT_EQ(trace.leftover, 0u);
  EXPECT_TRUE(std::equal(trace.forwarded.begin(), trace.forwarded.end(), expected_output.begin(),
                         expected_output.end()))
      << FirstDifference(trace.forwarded, expected_output);
  EXPECT_TRUE(scanner.AtMessageBoundary());
  EXPECT_THAT(boundary_errors, ::testing::IsEmpty()) << "forwarded totals where AtMessageBoundary() was wrong";
  EXPECT_THAT(misplaced_holds, ::testing::IsEmpty()) << "forwarded totals of misplaced holds";
  EXPECT_EQ(trace.holds, visitor.hold_once.size());
  EXPECT_EQ(visitor.offers, messages.size() + visitor.hold_once.size());

  ASSERT_EQ(visitor.starts.size(), messages.size()) << "each message must be announced exactly once";
  size_t inspected = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    EXPECT_EQ(visitor.starts[i].tag, messages[i].tag) << "message " << i;
    EXPECT_EQ(visitor.starts[i].length, messages[i].length) << "message " << i;
    if (visitor.inspect.count(messages[i].tag) == 0) continue;
    ASSERT_LT(inspected, visitor.inspected.size()) << "message " << i << " was not inspected";
    EXPECT_EQ(visitor.inspected[inspected].first, messages[i].tag) << "message " << i;
    EXPECT_EQ(Hex(visitor.inspected[inspected].second), Hex(messages[i].body)) << "message " << i;
    ++inspected;
  }
  EXPECT_EQ(inspected, visitor.inspected.size());
}

void RunAndCheck(std::span<const std::byte> input, ScriptedVisitor& visitor, const RelayOptions& options) {
  RunAndCheck(input, input, visitor, options);
}

TEST(MessageScannerTest, SessionInOneChunk) {
  Bytes input = BackendSession();
  ScriptedVisitor visitor;
  RunAndCheck(input, visitor, {});
  EXPECT_EQ(visitor.starts.size(), 21u);
}

TEST(MessageScannerTest, SessionSplitInTwoAtEveryOffset) {
  Bytes input = BackendSession();
  for (size_t split = 1; split < input.size(); ++split) {
    SCOPED_TRACE(fmt::format("split at {}", split));
    ScriptedVisitor visitor;
    RunAndCheck(input, visitor, Relay(kRelayCapacity, Chunks({split, input.size()})));
    if (HasFailure()) return;
  }
}

TEST(MessageScannerTest, SessionInChunksOfEverySize) {
  Bytes input = BackendSession();
  const size_t tight = LargestInspectedTotal(SplitStream(input), kRelayInspects);
  for (size_t capacity : {kRelayCapacity, tight}) {
    for (size_t chunk = 1; chunk <= input.size(); ++chunk) {
      SCOPED_TRACE(fmt::format("capacity {}, chunks of {}", capacity, chunk));
      ScriptedVisitor visitor;
      RunAndCheck(input, visitor, Relay(capacity, Chunks({chunk})));
      if (HasFailure()) return;
    }
  }
}

TEST(MessageScannerTest, SessionStreamedWholeInChunksOfEverySize) {
  // Nothing inspected: the scanner only frames.
  Bytes input = BackendSession();
  for (size_t chunk = 1; chunk <= 64; ++chunk) {
    SCOPED_TRACE(fmt::format("chunks of {}", chunk));
    ScriptedVisitor visitor;
    visitor.inspect.clear();
    RunAndCheck(input, visitor, Relay(kMessageHeaderSize, Chunks({chunk})));
    if (HasFailure()) return;
  }
}

TEST(MessageScannerTest, SessionInRandomChunks) {
  constexpr uint64_t kSeed = 0x70677661'6c766531;
  ::testing::Test::RecordProperty("seed", std::to_string(kSeed));
  std::cout << "MessageScannerTest.SessionInRandomChunks seed: " << kSeed << "\n";
  std::mt19937_64 random(kSeed);
  Bytes input = BackendSession();
  const size_t tight = LargestInspectedTotal(SplitStream(input), kRelayInspects);
  for (int run = 0; run < 2000; ++run) {
    const size_t capacity = std::uniform_int_distribution<size_t>(tight, 2048)(random);
    const size_t max_chunk = run % 2 == 0 ? 16 : 1024;
    std::vector<size_t> chunks;
    for (size_t total = 0; total < input.size();) {
      chunks.push_back(std::uniform_int_distribution<size_t>(1, max_chunk)(random));
      total += chunks.back();
    }
    SCOPED_TRACE(fmt::format("run {} of seed {}: capacity {}, chunks {}", run, kSeed, capacity,
                             fmt::join(chunks, ",")));
    ScriptedVisitor visitor;
    RunAndCheck(input, visitor, Relay(capacity, Chunks(chunks)));
    if (HasFailure()) return;
  }
}

TEST(MessageScannerTest, RewriteInPlaceShowsUpInTheForwardedBytes) {
  // The relay hands clients its own BackendKeyData: same length, new pid and
  // secret, written over the server's.
  Bytes input = BackendSession();
  std::vector<SplitMessage> messages = SplitStream(input);
  auto key = std::find_if(messages.begin(), messages.end(), [](const SplitMessage& m) { return m.tag == 'K'; });
  ASSERT_NE(key, messages.end());
  Bytes expected = input;
  StoreBigEndian32(expected.data() + key->offset + 5, 0x7eadbeef);
  std::fill_n(expected.begin() + static_cast<std::ptrdiff_t>(key->offset + 9), 4, std::byte{0x5a});

  for (size_t chunk = 1; chunk <= input.size(); ++chunk) {
    SCOPED_TRACE(fmt::format("chunks of {}", chunk));
    ScriptedVisitor visitor;
    visitor.on_message = [](char tag, std::span<std::byte> body) {
      if (tag == 'K') {
        StoreBigEndian32(body.data(), 0x7eadbeef);
        std::fill(body.begin() + 4, body.end(), std::byte{0x5a});
      }
      return absl::OkStatus();
    };
    MessageScanner scanner(kMaxMessageLength);
    RelayTrace trace = RunRelay(input, scanner, visitor, Relay(kRelayCapacity, Chunks({chunk})));
    ASSERT_TRUE(trace.status.ok()) << trace.status;
    ASSERT_TRUE(std::equal(trace.forwarded.begin(), trace.forwarded.end(), expected.begin(), expected.end()))
        << FirstDifference(trace.forwarded, expected);
  }
}

TEST(MessageScannerTest, HoldStopsExactlyBeforeTheMessageAndResumes) {
  Bytes input = BackendSession();
  std::vector<SplitMessage> messages = SplitStream(input);
  const size_t held = 6;  // the RowDescription after the first ReadyForQuery
  ASSERT_EQ(messages[held].tag, 'T');
  ScriptedVisitor visitor;
  visitor.hold_once = {held};
  MessageScanner scanner(kMaxMessageLength);

  ScanResult first = scanner.Scan(input, input.size(), visitor);
  ASSERT_TRUE(first.error.ok()) << first.error;
  EXPECT_EQ(first.stop, ScanStop::kHeld);
  EXPECT_EQ(first.forward, messages[held].offset);
  EXPECT_EQ(visitor.starts.size(), held);
  EXPECT_TRUE(scanner.AtMessageBoundary());

  std::span<std::byte> rest = std::span(input).subspan(first.forward);
  ScanResult second = scanner.Scan(rest, input.size(), visitor);
  ASSERT_TRUE(second.error.ok()) << second.error;
  EXPECT_EQ(second.stop, ScanStop::kNeedMore);
  EXPECT_EQ(second.forward, rest.size());
  ASSERT_EQ(visitor.starts.size(), messages.size());
  EXPECT_EQ(visitor.starts[held].tag, 'T');
  EXPECT_EQ(visitor.offers, messages.size() + 1) << "the held message is offered again, once";
}

TEST(MessageScannerTest, HoldOnTheFirstMessageForwardsNothing) {
  Bytes input = BackendSession();
  ScriptedVisitor visitor;
  visitor.hold_once = {0};
  MessageScanner scanner(kMaxMessageLength);
  ScanResult result = scanner.Scan(input, input.size(), visitor);
  ASSERT_TRUE(result.error.ok()) << result.error;
  EXPECT_EQ(result.stop, ScanStop::kHeld);
  EXPECT_EQ(result.forward, 0u);
  EXPECT_TRUE(visitor.starts.empty());
}

TEST(MessageScannerTest, HoldEveryMessageOnceInChunksOfEverySize) {
  Bytes input = BackendSession();
  const size_t count = SplitStream(input).size();
  for (size_t chunk = 1; chunk <= input.size(); ++chunk) {
    SCOPED_TRACE(fmt::format("chunks of {}", chunk));
    ScriptedVisitor visitor;
    for (size_t i = 0; i < count; ++i) visitor.hold_once.insert(i);
    RunAndCheck(input, visitor, Relay(kRelayCapacity, Chunks({chunk})));
    if (HasFailure()) return;
  }
}

// A DataRow of 1 MB passes a 64 KiB buffer in pieces; the scanner counts the
// body down and reports a boundary only once all of it has gone.
TEST(MessageScannerTest, StreamedMessageLargerThanTheBuffer) {
  constexpr size_t kValue = 1 << 20;
  std::string value(kValue, 'x');
  for (size_t i = 0; i < kValue; i += 4096) value[i] = static_cast<char>('a' + (i / 4096) % 26);
  MessageWriter writer;
  const ColumnSpec column[] = {{"blob", ColumnType::kText}};
  AppendRowDescription(writer, column);
  const std::optional<std::string_view> row[] = {value};
  AppendDataRow(writer, row);
  AppendCommandComplete(writer, "SELECT 1");
  AppendReadyForQuery(writer, TransactionStatus::kIdle);
  Bytes input(writer.bytes().begin(), writer.bytes().end());

  for (size_t chunk : {size_t{65536}, size_t{4096}, size_t{7919}, size_t{100000}, size_t{333}}) {
    SCOPED_TRACE(fmt::format("chunks of {}", chunk));
    ScriptedVisitor visitor;
    RunAndCheck(input, visitor, Relay(64 * 1024, Chunks({chunk})));
    ASSERT_EQ(visitor.starts.size(), 4u);
    EXPECT_EQ(visitor.starts[1].tag, 'D');
    EXPECT_EQ(visitor.starts[1].length, 4 + 2 + 4 + kValue);
  }
}

TEST(MessageScannerTest, InspectedMessageLargerThanTheBufferIsAProtocolViolation) {
  MessageWriter writer;
  AppendReadyForQuery(writer, TransactionStatus::kIdle);
  AppendErrorResponse(writer, Error(Severity::kError, "XX000", std::string(100, 'm')));
  Bytes input(writer.bytes().begin(), writer.bytes().end());
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{64}}) {
    SCOPED_TRACE(fmt::format("chunks of {}", chunk));
    ScriptedVisitor visitor;
    MessageScanner scanner(kMaxMessageLength);
    RelayTrace trace = RunRelay(input, scanner, visitor, Relay(64, Chunks({chunk})));
    EXPECT_THAT(trace.status, IsProtocolViolation());
    ASSERT_EQ(visitor.inspected.size(), 1u) << "only the ReadyForQuery fits";
    EXPECT_EQ(visitor.inspected[0].first, 'Z');
    EXPECT_LE(trace.forwarded.size(), 6u);
  }
}

TEST(MessageScannerTest, InspectedMessageOfExactlyTheCapacityFits) {
  MessageWriter writer;
  AppendErrorResponse(writer, Error(Severity::kError, "XX000", std::string(100, 'm')));
  AppendReadyForQuery(writer, TransactionStatus::kIdle);
  AppendErrorResponse(writer, Error(Severity::kError, "XX000", std::string(100, 'n')));
  Bytes input(writer.bytes().begin(), writer.bytes().end());
  const size_t capacity = SplitStream(input)[0].end();
  for (size_t chunk = 1; chunk <= capacity + 1; ++chunk) {
    SCOPED_TRACE(fmt::format("chunks of {}", chunk));
    ScriptedVisitor visitor;
    RunAndCheck(input, visitor, Relay(capacity, Chunks({chunk})));
    if (HasFailure()) return;
  }
}

TEST(MessageScannerTest, OnMessageErrorEndsTheScanAndKeepsTheMessage) {
  Bytes input = BackendSession();
  std::vector<SplitMessage> messages = SplitStream(input);
  auto error = std::find_if(messages.begin(), messages.end(), [](const SplitMessage& m) { return m.tag == 'E'; });
  ASSERT_NE(error, messages.end());
  for (size_t chunk : {size_t{1}, size_t{5}, size_t{64}, input.size()}) {
    SCOPED_TRACE(fmt::format("chunks of {}", chunk));
    ScriptedVisitor visitor;
    visitor.on_message = [](char tag, std::span<std::byte>) {
      return tag == 'E' ? ErrorWithSqlState(sqlstate::kAdminShutdown, "upstream said no") : absl::OkStatus();
    };
    MessageScanner scanner(kMaxMessageLength);
    RelayTrace trace = RunRelay(input, scanner, visitor, Relay(kRelayCapacity, Chunks({chunk})));
    EXPECT_THAT(trace.status, HasSqlState("57P01"));
    EXPECT_EQ(trace.status.message(), "upstream said no");
    EXPECT_LE(trace.forwarded.size(), error->offset) << "the refused message must not be forwarded";
  }
}

TEST(MessageScannerTest, EmptyInputNeedsMore) {
  MessageScanner scanner(kMaxMessageLength);
  ScriptedVisitor visitor;
  ScanResult result = scanner.Scan({}, 64, visitor);
  ASSERT_TRUE(result.error.ok()) << result.error;
  EXPECT_EQ(result.forward, 0u);
  EXPECT_EQ(result.stop, ScanStop::kNeedMore);
  EXPECT_EQ(visitor.offers, 0u);
}

TEST(MessageScannerTest, PartialHeaderIsKeptAndNotAnnounced) {
  Bytes input = ByteBuilder().Tag('D').I32(6).I16(0).bytes();
  for (size_t size = 1; size < kMessageHeaderSize; ++size) {
    MessageScanner scanner(kMaxMessageLength);
    ScriptedVisitor visitor;
    ScanResult result = scanner.Scan(std::span(input).first(size), 64, visitor);
    ASSERT_TRUE(result.error.ok()) << result.error;
    EXPECT_EQ(result.forward, 0u);
    EXPECT_EQ(visitor.offers, 0u);
    EXPECT_TRUE(scanner.AtMessageBoundary());
  }
}

TEST(MessageScannerTest, AtMessageBoundaryStepByStep) {
  // A streamed DataRow arriving in three pieces, then an inspected
  // ReadyForQuery arriving in two.
  Bytes data_row = ByteBuilder().Tag('D').I32(4 + 2 + 4 + 3).I16(1).I32(3).Raw("abc").bytes();
  Bytes ready = ByteBuilder().Tag('Z').I32(5).U8('I').bytes();
  MessageScanner scanner(kMaxMessageLength);
  ScriptedVisitor visitor;
  EXPECT_TRUE(scanner.AtMessageBoundary());

  // Header and two body bytes: all forwarded, body still owed.
  ScanResult r = scanner.Scan(std::span(data_row).first(7), 64, visitor);
  ASSERT_TRUE(r.error.ok());
  EXPECT_EQ(r.forward, 7u);
  EXPECT_FALSE(scanner.AtMessageBoundary());

  r = scanner.Scan(std::span(data_row).subspan(7, 5), 64, visitor);
  ASSERT_TRUE(r.error.ok());
  EXPECT_EQ(r.forward, 5u);
  EXPECT_FALSE(scanner.AtMessageBoundary());

  // The last two body bytes and the first three bytes of the ReadyForQuery.
  Bytes tail = testutil::Concat(std::span(data_row).subspan(12), std::span(ready).first(3));
  r = scanner.Scan(tail, 64, visitor);
  ASSERT_TRUE(r.error.ok());
  EXPECT_EQ(r.forward, 2u);
  EXPECT_TRUE(scanner.AtMessageBoundary());

  // Whole header of the inspected message, body missing: kept, announced.
  Bytes partial(ready.begin(), ready.begin() + 5);
  r = scanner.Scan(partial, 64, visitor);
  ASSERT_TRUE(r.error.ok());
  EXPECT_EQ(r.forward, 0u);
  EXPECT_TRUE(scanner.AtMessageBoundary()) << "nothing of the inspected message has been forwarded";
  ASSERT_EQ(visitor.starts.size(), 2u);
  EXPECT_TRUE(visitor.inspected.empty());

  r = scanner.Scan(ready, 64, visitor);
  ASSERT_TRUE(r.error.ok());
  EXPECT_EQ(r.forward, ready.size());
  EXPECT_TRUE(scanner.AtMessageBoundary());
  EXPECT_EQ(visitor.starts.size(), 2u) << "the collected message is not announced twice";
  ASSERT_EQ(visitor.inspected.size(), 1u);
  EXPECT_EQ(Hex(visitor.inspected[0].second), "49");
}

}  // namespace
}  // namespace pgvalve::protocol

namespace pgvalve::protocol {
namespace {

TEST(HeldMessageTest, IsWholeOnlyOnceEveryByteIsThere) {
  // 'C' "SELECT 1\0" and the first byte of the next message.
  testutil::Bytes bytes = testutil::ByteBuilder().Tag('C').I32(4 + 9).Str("SELECT 1").Tag('Z').bytes();
  for (size_t available = kMessageHeaderSize; available < 1 + 4 + 9; ++available) {
    SCOPED_TRACE(available);
    HeldMessage held = HeldMessageAt(std::span(bytes).first(available));
    EXPECT_EQ(held.tag, 'C');
    EXPECT_EQ(held.size, 14u);
    EXPECT_FALSE(held.whole);
    EXPECT_TRUE(held.body.empty());
  }
  HeldMessage held = HeldMessageAt(bytes);
  EXPECT_TRUE(held.whole);
  EXPECT_EQ(held.size, 14u);
  EXPECT_EQ(testutil::AsText(held.body), std::string_view("SELECT 1\0", 9));
}

}  // namespace
}  // namespace pgvalve::protocol
