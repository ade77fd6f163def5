// RelayProbe: what a probe keeps of the server's replies and what it hands
// its caller, fed messages built with the protocol writer; and who it tells
// when it ends (the sender it stops, the waiter it wakes).

#include "proxy/relay_probe.h"

#include <optional>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "proxy/asio.h"
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

TEST(RelayProbeStateTest, ItsEndWakesTheWaiter) {
  asio::io_context io;
  asio::steady_timer waiter(io, std::chrono::hours(1));
  std::optional<error_code> woken;
  waiter.async_wait([&](error_code error) { woken = error; });
  RelayProbe probe;
  probe.Begin("SELECT 1", [](SessionControl::ProbeResult) {});
  probe.TakeSql();
  probe.SetWaiter(&waiter);
  ASSERT_TRUE(Ready(probe).ok());
  io.poll();
  ASSERT_TRUE(woken.has_value());
  EXPECT_EQ(*woken, asio::error::operation_aborted);
}

TEST(RelayProbeStateTest, AWaiterThatGaveUpIsNotWoken) {
  asio::io_context io;
  asio::steady_timer waiter(io, std::chrono::hours(1));
  bool woken = false;
  waiter.async_wait([&](error_code) { woken = true; });
  RelayProbe probe;
  probe.Begin("SELECT 1", [](SessionControl::ProbeResult) {});
  probe.TakeSql();
  probe.SetWaiter(&waiter);
  probe.SetWaiter(nullptr);
  probe.Fail("Broken pipe");
  io.poll();
  EXPECT_FALSE(woken);
  waiter.cancel();
  io.poll();
  EXPECT_TRUE(woken);
}

TEST(RelayProbeStateTest, OnlyItsOwnSenderEndingMakesTheSendDueAgain) {
  RelayProbe probe;
  probe.Begin("SELECT 1", [](SessionControl::ProbeResult) {});
  EXPECT_TRUE(probe.send_due());
  auto sender = std::make_shared<asio::cancellation_signal>();
  probe.SenderStarted(sender);
  EXPECT_FALSE(probe.send_due());
  // An earlier probe's sender, finishing late.
  const asio::cancellation_signal earlier;
  probe.SenderEnded(&earlier);
  EXPECT_FALSE(probe.send_due());
  probe.SenderEnded(sender.get());
  EXPECT_TRUE(probe.send_due());
}

TEST(RelayProbeStateTest, CancelSenderStopsTheSenderOfARunningProbeOnly) {
  RelayProbe probe;
  probe.Begin("SELECT 1", [](SessionControl::ProbeResult) {});
  auto sender = std::make_shared<asio::cancellation_signal>();
  std::optional<asio::cancellation_type> emitted;
  sender->slot().assign([&](asio::cancellation_type type) { emitted = type; });
  probe.SenderStarted(sender);
  probe.CancelSender();
  ASSERT_TRUE(emitted.has_value());
  EXPECT_EQ(*emitted, asio::cancellation_type::terminal);

  // A write that failed ended the probe before its sender finished.
  emitted.reset();
  probe.TakeSql();
  probe.Fail("Broken pipe");
  probe.CancelSender();
  probe.SenderEnded(sender.get());
  EXPECT_FALSE(emitted.has_value());
  EXPECT_FALSE(probe.send_due());
}

}  // namespace
}  // namespace pgvalve::proxy
