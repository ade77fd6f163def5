#include "upstream/replication_queries.h"

#include <charconv>

#include "fmt/format.h"

namespace pgvalve::upstream {
namespace {

std::string TextOrEmpty(const std::optional<std::string>& value) { return value ? *value : std::string(); }

std::optional<Lsn> LsnOf(const std::optional<std::string>& value) {
  return value ? ParseLsn(*value) : std::nullopt;
}

bool IsTrue(const std::optional<std::string>& value) { return value && *value == "t"; }

// The one value of a one-row, one-column result.
absl::StatusOr<std::optional<std::string>> Scalar(absl::StatusOr<QueryResult> result) {
  if (!result.ok()) return result.status();
  if (result->rows.size() != 1 || result->rows[0].size() != 1) {
    return absl::InternalError(fmt::format("expected one value, got {} rows", result->rows.size()));
  }
  return result->rows[0][0];
}

}  // namespace

std::optional<Lsn> ParseLsn(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size()) return std::nullopt;
  uint32_t high = 0, low = 0;
  const char* begin = text.data();
  auto [high_end, high_error] = std::from_chars(begin, begin + slash, high, 16);
  if (high_error != std::errc() || high_end != begin + slash) return std::nullopt;
  const char* low_begin = begin + slash + 1;
  auto [low_end, low_error] = std::from_chars(low_begin, begin + text.size(), low, 16);
  if (low_error != std::errc() || low_end != begin + text.size()) return std::nullopt;
  return (static_cast<Lsn>(high) << 32) | low;
}

std::string FormatLsn(Lsn lsn) { return fmt::format("{:X}/{:X}", lsn >> 32, lsn & 0xFFFFFFFFu); }

std::string FormatBytes(uint64_t bytes) {
  if (bytes >= (10u << 20)) return fmt::format("{} MB", bytes >> 20);
  if (bytes >= (10u << 10)) return fmt::format("{} kB", bytes >> 10);
  return fmt::format("{} bytes", bytes);
}

proxy::Awaitable<absl::StatusOr<bool>> IsInRecovery(ControlConnection& control) {
  absl::StatusOr<std::optional<std::string>> value =
      Scalar(co_await control.Query("SELECT pg_is_in_recovery()", {}));
  if (!value.ok()) co_return value.status();
  co_return IsTrue(*value);
}

proxy::Awaitable<absl::StatusOr<Lsn>> CurrentWalLsn(ControlConnection& control) {
  absl::StatusOr<std::optional<std::string>> value =
      Scalar(co_await control.Query("SELECT pg_current_wal_lsn()::text", {}));
  if (!value.ok()) co_return value.status();
  std::optional<Lsn> lsn = LsnOf(*value);
  if (!lsn) co_return absl::InternalError(fmt::format("unreadable LSN \"{}\"", TextOrEmpty(*value)));
  co_return *lsn;
}

proxy::Awaitable<absl::StatusOr<std::optional<Lsn>>> ReplayLsn(ControlConnection& control) {
  absl::StatusOr<std::optional<std::string>> value =
      Scalar(co_await control.Query("SELECT pg_last_wal_replay_lsn()::text", {}));
  if (!value.ok()) co_return value.status();
  co_return LsnOf(*value);
}

proxy::Awaitable<absl::StatusOr<std::optional<WalReceiver>>> ReadWalReceiver(ControlConnection& control) {
  absl::StatusOr<QueryResult> result = co_await control.Query(
      "SELECT status, sender_host, sender_port, flushed_lsn::text FROM pg_stat_wal_receiver", {});
  if (!result.ok()) co_return result.status();
  if (result->rows.empty()) co_return std::optional<WalReceiver>();
  const auto& row = result->rows.front();
  co_return WalReceiver{.status = TextOrEmpty(row[0]),
                        .sender_host = TextOrEmpty(row[1]),
                        .sender_port = row[2] ? std::stoi(*row[2]) : 0,
                        .flushed_lsn = LsnOf(row[3])};
}

proxy::Awaitable<absl::StatusOr<Lsn>> EmitMarker(ControlConnection& control, std::string text) {
  std::vector<std::optional<std::string>> params = {std::move(text)};
  absl::StatusOr<std::optional<std::string>> value = Scalar(
      co_await control.Query("SELECT pg_logical_emit_message(true, 'pgvalve', $1)::text", std::move(params)));
  if (!value.ok()) co_return value.status();
  std::optional<Lsn> lsn = LsnOf(*value);
  if (!lsn) co_return absl::InternalError(fmt::format("unreadable LSN \"{}\"", TextOrEmpty(*value)));
  co_return *lsn;
}

proxy::Awaitable<absl::StatusOr<bool>> Promote(ControlConnection& control, int wait_seconds) {
  std::vector<std::optional<std::string>> params = {std::to_string(wait_seconds)};
  absl::StatusOr<std::optional<std::string>> value =
      Scalar(co_await control.Query("SELECT pg_promote(true, $1::int)", std::move(params),
                                    std::chrono::seconds(wait_seconds) + kDefaultStatementTimeout));
  if (!value.ok()) co_return value.status();
  co_return IsTrue(*value);
}

}  // namespace pgvalve::upstream
