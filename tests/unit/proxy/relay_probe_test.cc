// RelayProbe: what a probe keeps of the server's replies and what it hands
// its caller, fed messages built with the protocol writer.

#include "proxy/relay_probe.h"

#include <optional>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "protocol/backend_writer.h"
#include "protocol/message_scanner.h"
#include "protocol/message_writer.h"

namespace pgvalve::proxy {
namespace {

using protocol::BackendTag;

// Feeds one message written by `append` to the probe.
template <typename Append>
absl::Status Reply(RelayProbe& probe, Append append) {
  protocol::MessageWriter writer;
  append(writer);
  const protocol::HeldMessage message = protocol::HeldMessageAt(writer.bytes());
  return probe.OnReply(static_cast<BackendTag>(message.tag), message.body);
}

absl::Status Row(RelayProbe& probe, std::vector<std::optional<std::string_view>> values) {
  return Reply(probe, [&](auto& writer) { protocol::AppendDataRow(writer, values); });
}

absl::Status Ready(RelayProbe& probe) {
  return Reply(probe, [](auto& writer) { protocol::AppendReadyForQuery(writer, protocol::TransactionStatus::kIdle); });
}

TEST(RelayProbeStateTest, HandsOverTheFirstRowAtReadyForQuery) {
  RelayProbe probe;
  std::optional<SessionControl::ProbeResult> result;
  probe.Begin("SELECT pg_backend_pid(), NULL", [&](SessionControl::ProbeResult r) { result = std::move(r); });
  EXPECT_TRUE(probe.awaiting_send());
  EXPECT_FALSE(probe.awaiting_replies());
  EXPECT_EQ(probe.TakeSql(), "SELECT pg_backend_pid(), NULL");
  EXPECT_TRUE(probe.awaiting_replies());

  ASSERT_TRUE(Row(probe, {"4242", std::nullopt}).ok());
  ASSERT_TRUE(Row(probe, {"9999", "second"}).ok());
  ASSERT_TRUE(Reply(probe, [](auto& writer) { protocol::AppendCommandComplete(writer, "SELECT 2"); }).ok());
  EXPECT_FALSE(result.has_value()) << "handed over before ReadyForQuery";
  ASSERT_TRUE(Ready(probe).ok());

  EXPECT_FALSE(probe.active());
  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(result->ok()) << result->status();
  ASSERT_EQ((*result)->size(), 2u);
  EXPECT_EQ((**result)[0], "4242");
  EXPECT_EQ((**result)[1], std::nullopt);
}

TEST(RelayProbeStateTest, AnErrorReplyBecomesTheCallersError) {
  RelayProbe probe;
  std::optional<SessionControl::ProbeResult> result;
  probe.Begin("SELECT nonsense", [&](SessionControl::ProbeResult r) { result = std::move(r); });
  probe.TakeSql();
  ASSERT_TRUE(Reply(probe, [](auto& writer) {
                protocol::AppendErrorResponse(writer, {.severity = protocol::Severity::kError,
                                                       .sqlstate = "42703",
                                                       .message = "column \"nonsense\" does not exist"});
              }).ok());
  ASSERT_TRUE(Ready(probe).ok());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(result->status().message(), "column \"nonsense\" does not exist");
}

TEST(RelayProbeStateTest, NoRowsIsAnEmptyAnswer) {
  RelayProbe probe;
  std::optional<SessionControl::ProbeResult> result;
  probe.Begin("SET x = 1", [&](SessionControl::ProbeResult r) { result = std::move(r); });
  probe.TakeSql();
  ASSERT_TRUE(Ready(probe).ok());
  ASSERT_TRUE(result.has_value() && result->ok());
  EXPECT_TRUE((*result)->empty());
}

TEST(RelayProbeStateTest, FailEndsTheProbeWithTheError) {
  RelayProbe probe;
  std::optional<SessionControl::ProbeResult> result;
  probe.Begin("SELECT 1", [&](SessionControl::ProbeResult r) { result = std::move(r); });
  probe.TakeSql();
  probe.Fail("Broken pipe");
  EXPECT_FALSE(probe.active());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status().message(), "Broken pipe");
}

TEST(RelayProbeStateTest, AMalformedRowIsTheServersProtocolViolation) {
  RelayProbe probe;
  probe.Begin("SELECT 1", [](SessionControl::ProbeResult) {});
  probe.TakeSql();
  const std::byte truncated[] = {std::byte{0}, std::byte{1}, std::byte{0}};
  EXPECT_FALSE(probe.OnReply(BackendTag::kDataRow, truncated).ok());
  EXPECT_TRUE(probe.active());
}

TEST(RelayProbeStateTest, OnlyWhatASimpleQueryIsAnsweredWithIsAReply) {
  EXPECT_TRUE(RelayProbe::IsReply(BackendTag::kDataRow));
  EXPECT_TRUE(RelayProbe::IsReply(BackendTag::kReadyForQuery));
  EXPECT_TRUE(RelayProbe::IsReply(BackendTag::kNoticeResponse));
  EXPECT_FALSE(RelayProbe::IsReply(BackendTag::kNotificationResponse));
  EXPECT_FALSE(RelayProbe::IsReply(BackendTag::kParameterStatus));
}

}  // namespace
}  // namespace pgvalve::proxy
