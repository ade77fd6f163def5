#include "upstream/logical_replication_queries.h"

#include <charconv>

#include "fmt/format.h"

namespace pgvalve::upstream {
namespace {

std::string TextOrEmpty(const std::optional<std::string>& value) { return value ? *value : std::string(); }

bool IsTrue(const std::optional<std::string>& value) { return value && *value == "t"; }

std::optional<int64_t> Int64Of(const std::optional<std::string>& value) {
  if (!value) return std::nullopt;
  int64_t number = 0;
  auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), number);
  if (error != std::errc() || end != value->data() + value->size()) return std::nullopt;
  return number;
}

}  // namespace

proxy::Awaitable<absl::StatusOr<std::vector<Subscription>>> SubscriptionsOf(ControlConnection& control,
                                                                            const std::string& database) {
  std::vector<std::optional<std::string>> params = {database};
  absl::StatusOr<QueryResult> result = co_await control.Query(
      "SELECT s.subname, s.subslotname, s.subenabled FROM pg_subscription s "
      "JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname = $1 ORDER BY s.subname",
      std::move(params));
  if (!result.ok()) co_return result.status();
  std::vector<Subscription> subscriptions;
  for (const auto& row : result->rows) {
    subscriptions.push_back(
        Subscription{.name = TextOrEmpty(row[0]), .slot = TextOrEmpty(row[1]), .enabled = IsTrue(row[2])});
  }
  co_return subscriptions;
}

proxy::Awaitable<absl::StatusOr<std::optional<LogicalSlot>>> ReadLogicalSlot(ControlConnection& control,
                                                                            const std::string& slot) {
  std::vector<std::optional<std::string>> params = {slot};
  absl::StatusOr<QueryResult> result = co_await control.Query(
      "SELECT database, active, confirmed_flush_lsn::text FROM pg_replication_slots "
      "WHERE slot_name = $1 AND slot_type = 'logical'",
      std::move(params));
  if (!result.ok()) co_return result.status();
  if (result->rows.empty()) co_return std::optional<LogicalSlot>();
  const auto& row = result->rows.front();
  co_return LogicalSlot{.database = TextOrEmpty(row[0]),
                        .active = IsTrue(row[1]),
                        .confirmed_flush = row[2] ? ParseLsn(*row[2]) : std::nullopt};
}

proxy::Awaitable<absl::StatusOr<std::vector<std::string>>> TablesNotReady(ControlConnection& database_control,
                                                                         const std::string& subscription) {
  std::vector<std::optional<std::string>> params = {subscription};
  absl::StatusOr<QueryResult> result = co_await database_control.Query(
      "SELECT format('%I.%I (%s)', n.nspname, c.relname, r.srsubstate) FROM pg_subscription_rel r "
      "JOIN pg_subscription s ON s.oid = r.srsubid JOIN pg_class c ON c.oid = r.srrelid "
      "JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE s.subname = $1 AND r.srsubstate <> 'r' "
      "AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY 1",
      std::move(params));
  if (!result.ok()) co_return result.status();
  std::vector<std::string> tables;
  for (const auto& row : result->rows) tables.push_back(TextOrEmpty(row[0]));
  co_return tables;
}

proxy::Awaitable<absl::StatusOr<std::vector<SequenceState>>> ReadSequences(ControlConnection& database_control) {
  // pg_sequences hides last_value (NULL) from a user without the privilege
  // as it does for a sequence never called: the privilege tells them apart.
  absl::StatusOr<QueryResult> result = co_await database_control.Query(
      "SELECT schemaname, sequencename, last_value, increment_by, "
      "has_sequence_privilege(format('%I.%I', schemaname, sequencename), 'SELECT,USAGE') "
      "FROM pg_sequences ORDER BY 1, 2",
      {});
  if (!result.ok()) co_return result.status();
  std::vector<SequenceState> sequences;
  for (const auto& row : result->rows) {
    sequences.push_back(SequenceState{.schema = TextOrEmpty(row[0]),
                                      .name = TextOrEmpty(row[1]),
                                      .last_value = Int64Of(row[2]),
                                      .increment = Int64Of(row[3]).value_or(1),
                                      .readable = IsTrue(row[4])});
  }
  co_return sequences;
}

proxy::Awaitable<absl::Status> CopySequence(ControlConnection& database_control, const SequenceState& sequence) {
  if (!sequence.last_value) {
    co_return absl::InvalidArgumentError(
        fmt::format("sequence {}.{} has no value to copy", sequence.schema, sequence.name));
  }
  std::vector<std::optional<std::string>> params = {sequence.schema, sequence.name,
                                                    std::to_string(*sequence.last_value)};
  absl::StatusOr<QueryResult> result = co_await database_control.Query(
      "SELECT setval(format('%I.%I', $1::text, $2::text)::regclass, $3::bigint, true)", std::move(params));
  co_return result.status();
}

}  // namespace pgvalve::upstream
