#include "admin/commands/result_set.h"

#include <cassert>

#include "fmt/chrono.h"
#include "fmt/format.h"

namespace pgvalve::admin {

ResultSet::Row& ResultSet::Row::Double(double value, int decimals) {
  return Value(fmt::format("{:.{}f}", value, decimals));
}

ResultSet::Row& ResultSet::Row::Time(std::chrono::system_clock::time_point value) {
  auto millis = std::chrono::time_point_cast<std::chrono::milliseconds>(value);
  return Value(fmt::format("{:%Y-%m-%d %H:%M:%S}+00", millis));
}

void ResultSet::AppendTo(protocol::MessageWriter& writer) const {
  std::vector<protocol::ColumnSpec> specs;
  specs.reserve(columns_.size());
  for (const Column& column : columns_) specs.push_back({column.name, column.type});
  protocol::AppendRowDescription(writer, specs);

  std::vector<std::optional<std::string_view>> cells;
  for (const Row& row : rows_) {
    assert(row.values_.size() == columns_.size() && "row width differs from the columns");
    cells.clear();
    for (const auto& value : row.values_) {
      cells.push_back(value ? std::optional<std::string_view>(*value) : std::nullopt);
    }
    protocol::AppendDataRow(writer, cells);
  }
}

}  // namespace pgvalve::admin
