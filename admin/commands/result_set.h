#pragma once
// A result set of the admin console, built from typed columns and written
// as RowDescription + DataRows, so psql formats it like any query result.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/backend_writer.h"
#include "protocol/message_writer.h"

namespace pgvalve::admin {

struct Column {
  std::string name;
  protocol::ColumnType type = protocol::ColumnType::kText;
};

class ResultSet {
 public:
  explicit ResultSet(std::vector<Column> columns) : columns_(std::move(columns)) {}

  class Row {
   public:
    Row& Text(std::string_view value) { return Value(std::string(value)); }
    Row& Int(int64_t value) { return Value(std::to_string(value)); }
    Row& Bool(bool value) { return Value(value ? "t" : "f"); }
    Row& Double(double value, int decimals = 3);
    // ISO 8601 in UTC, as PostgreSQL prints timestamptz with TimeZone=UTC.
    Row& Time(std::chrono::system_clock::time_point value);
    Row& Null() { return Value(std::nullopt); }
    // NULL when `value` is nullopt.
    Row& OptionalText(const std::optional<std::string>& value) { return Value(value); }

   private:
    friend class ResultSet;
    Row& Value(std::optional<std::string> value) {
      values_.push_back(std::move(value));
      return *this;
    }
    std::vector<std::optional<std::string>> values_;
  };

  Row& AddRow() { return rows_.emplace_back(); }
  size_t row_count() const { return rows_.size(); }
  const std::vector<Column>& columns() const { return columns_; }
  // Cell (row, column) as text, for tests and callers that post-process.
  const std::optional<std::string>& Cell(size_t row, size_t column) const {
    return rows_[row].values_[column];
  }

  // RowDescription and one DataRow per row (no CommandComplete).
  void AppendTo(protocol::MessageWriter& writer) const;

 private:
  std::vector<Column> columns_;
  std::vector<Row> rows_;
};

}  // namespace pgvalve::admin
