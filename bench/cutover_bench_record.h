#pragma once
// One round of bench/cutover_bench as ordered key=value fields. The driver
// writes its own, the script adds what pgbench said, the table reads them
// all back; between them a round is one line of tab-separated fields.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgvalve::bench {

// Tabs and line breaks would split a field or a round.
inline std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

// One round's results: ordered key=value fields, printed as one line.
class Record {
 public:
  void Set(const std::string& key, const std::string& value) {
    for (auto& [name, old] : fields_) {
      if (name == key) {
        old = OneLine(value);
        return;
      }
    }
    fields_.emplace_back(key, OneLine(value));
  }
  void SetNumber(const std::string& key, double value, int decimals) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    Set(key, text);
  }
  void SetCount(const std::string& key, int64_t value) { Set(key, std::to_string(value)); }

  std::string Get(std::string_view key) const {
    for (const auto& [name, value] : fields_) {
      if (name == key) return value;
    }
    return "";
  }
  bool Has(std::string_view key) const {
    return std::any_of(fields_.begin(), fields_.end(), [key](const auto& field) { return field.first == key; });
  }
  double Number(std::string_view key) const {
    const std::string value = Get(key);
    return value.empty() ? 0 : std::strtod(value.c_str(), nullptr);
  }

  std::string Line() const {
    std::string line;
    for (const auto& [name, value] : fields_) line += (line.empty() ? "" : "\t") + name + "=" + value;
    return line;
  }
  static Record Parse(std::string_view line) {
    Record record;
    while (!line.empty()) {
      const size_t end = std::min(line.find('\t'), line.size());
      const std::string_view field = line.substr(0, end);
      if (const size_t equals = field.find('='); equals != std::string_view::npos) {
        record.fields_.emplace_back(std::string(field.substr(0, equals)), std::string(field.substr(equals + 1)));
      }
      line.remove_prefix(std::min(end + 1, line.size()));
    }
    return record;
  }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

}  // namespace pgvalve::bench
