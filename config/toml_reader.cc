#include "config/toml_reader.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "config/config_error.h"
#include "config/string_views.h"
#include "config/value_text.h"

namespace pgvalve::config {
namespace {

const char* TypeName(const toml::value& value) {
  switch (value.type()) {
    case toml::value_t::boolean:
      return "boolean";
    case toml::value_t::integer:
      return "integer";
    case toml::value_t::floating:
      return "float";
    case toml::value_t::string:
      return "string";
    case toml::value_t::offset_datetime:
    case toml::value_t::local_datetime:
      return "date-time";
    case toml::value_t::local_date:
      return "date";
    case toml::value_t::local_time:
      return "time";
    case toml::value_t::array:
      return "array";
    case toml::value_t::table:
      return "table";
    case toml::value_t::empty:
      break;
  }
  return "nothing";
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string UnknownKeyMessage(std::string_view key, std::span<const std::string_view> known) {
  std::string_view closest;
  size_t best = 3;  // farther than two edits is a different word
  for (std::string_view candidate : known) {
    const size_t distance = EditDistance(key, candidate);
    if (distance < best) {
      best = distance;
      closest = candidate;
    }
  }
  if (closest.empty()) return "unknown key";
  return absl::StrCat("unknown key; did you mean ", Quoted(closest), "?");
}

std::vector<std::string> SortedKeys(const toml::value& table) {
  std::vector<std::string> keys;
  for (const auto& [key, unused] : table.as_table()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

}  // namespace

TomlTable::TomlTable(const toml::value* value, std::string path,
                     FirstError& errors,
                     std::initializer_list<std::string_view> known)
    : TomlTable(value, std::move(path), errors, std::span(known.begin(), known.size())) {}

TomlTable::TomlTable(const toml::value* value, std::string path, FirstError& errors,
                     std::span<const std::string_view> known)
    : path_(std::move(path)), errors_(errors) {
  if (value == nullptr || errors_.failed()) return;
  if (!value->is_table()) {
    errors_.Fail(path_,
                 absl::StrCat("must be a table, got ", TypeName(*value)));
    return;
  }
  for (const std::string& key : SortedKeys(*value)) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      errors_.Fail(PathOf(key), UnknownKeyMessage(key, known));
      return;
    }
  }
  value_ = value;
}

std::string TomlTable::PathOf(std::string_view key) const {
  return JoinKey(path_, key);
}

void TomlTable::Fail(std::string_view key, std::string_view what) {
  errors_.Fail(PathOf(key), what);
}

const toml::value* TomlTable::Get(std::string_view key) const {
  if (value_ == nullptr || errors_.failed()) return nullptr;
  const auto& table = value_->as_table();
  const auto found = table.find(std::string(key));
  return found == table.end() ? nullptr : &found->second;
}

void TomlTable::Require(std::string_view key) {
  if (value_ != nullptr && Get(key) == nullptr && !errors_.failed()) {
    errors_.Fail(path_, absl::StrCat("missing required key ", Quoted(key)));
  }
}

void TomlTable::String(std::string_view key, std::string& out) {
  const toml::value* value = Get(key);
  if (value == nullptr) return;
  if (!value->is_string()) {
    Fail(key, absl::StrCat("must be a string, got ", TypeName(*value)));
    return;
  }
  out = value->as_string().str;
}

void TomlTable::Bool(std::string_view key, bool& out) {
  const toml::value* value = Get(key);
  if (value == nullptr) return;
  if (!value->is_boolean()) {
    Fail(key, absl::StrCat("must be true or false, got ", TypeName(*value)));
    return;
  }
  out = value->as_boolean();
}

void TomlTable::String(std::string_view key, std::optional<std::string>& out) {
  if (Get(key) == nullptr) return;
  std::string text;
  String(key, text);
  if (!errors_.failed()) out = std::move(text);
}

void TomlTable::Integer(std::string_view key, IntegerRange range,
                        int64_t& out) {
  const toml::value* value = Get(key);
  if (value == nullptr) return;
  if (!value->is_integer()) {
    Fail(key, absl::StrCat("must be an integer between ", range.min, " and ",
                           range.max, ", got ", TypeName(*value)));
    return;
  }
  const int64_t number = value->as_integer();
  if (!range.Contains(number)) {
    Fail(key, RangeError(range, number));
    return;
  }
  out = number;
}

void TomlTable::Timeout(std::string_view key, Duration& out) {
  const toml::value* value = Get(key);
  if (value == nullptr) return;
  if (value->is_integer()) {
    out = Duration(value->as_integer());
    return;
  }
  if (!value->is_string()) {
    Fail(key, absl::StrCat("must be a duration such as \"5s\" or an integer "
                           "of milliseconds, got ",
                           TypeName(*value)));
    return;
  }
  absl::StatusOr<Duration> parsed = ParseDuration(value->as_string().str);
  if (!parsed.ok()) {
    Fail(key, StdView(parsed.status().message()));
    return;
  }
  out = *parsed;
}

void TomlTable::StringList(std::string_view key,
                           std::vector<std::string>& out) {
  const toml::value* value = Get(key);
  if (value == nullptr) return;
  if (!value->is_array()) {
    Fail(key, absl::StrCat("must be an array of strings, got ",
                           TypeName(*value)));
    return;
  }
  std::vector<std::string> strings;
  const auto& items = value->as_array();
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string()) {
      errors_.Fail(IndexKey(PathOf(key), i),
                   absl::StrCat("must be a string, got ", TypeName(items[i])));
      return;
    }
    strings.push_back(items[i].as_string().str);
  }
  out = std::move(strings);
}

void TomlTable::Addresses(std::string_view key,
                          std::vector<ListenAddress>& out) {
  const toml::value* value = Get(key);
  if (value == nullptr) return;
  if (!value->is_array()) {
    Fail(key, absl::StrCat("must be an array of \"ADDR:PORT\" strings, got ",
                           TypeName(*value)));
    return;
  }
  std::vector<ListenAddress> addresses;
  const auto& items = value->as_array();
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string path = IndexKey(PathOf(key), i);
    if (!items[i].is_string()) {
      errors_.Fail(path, absl::StrCat("must be an \"ADDR:PORT\" string, got ",
                                      TypeName(items[i])));
      return;
    }
    absl::StatusOr<ListenAddress> address =
        ParseListenAddress(items[i].as_string().str);
    if (!address.ok()) {
      errors_.Fail(path, StdView(address.status().message()));
      return;
    }
    addresses.push_back(*std::move(address));
  }
  out = std::move(addresses);
}

void TomlTable::Role(std::string_view key, AdminRole& out) {
  if (Get(key) == nullptr) return;
  std::string text;
  String(key, text);
  if (errors_.failed()) return;
  const std::optional<AdminRole> role = ParseAdminRole(text);
  if (!role) {
    Fail(key,
         absl::StrCat("must be \"admin\" or \"monitor\", got ", Quoted(text)));
    return;
  }
  out = *role;
}

std::vector<const toml::value*> TomlTable::TableArray(std::string_view key) {
  std::vector<const toml::value*> elements;
  const toml::value* value = Get(key);
  if (value == nullptr) return elements;
  if (!value->is_array()) {
    Fail(key,
         absl::StrCat("must be an array of tables, got ", TypeName(*value)));
    return elements;
  }
  for (const toml::value& element : value->as_array()) {
    elements.push_back(&element);
  }
  return elements;
}

std::vector<std::pair<std::string, const toml::value*>> NamedEntries(
    const toml::value* value, const std::string& path, FirstError& errors) {
  std::vector<std::pair<std::string, const toml::value*>> entries;
  if (value == nullptr || errors.failed()) return entries;
  if (!value->is_table()) {
    errors.Fail(path, absl::StrCat("must be a table, got ", TypeName(*value)));
    return entries;
  }
  for (const std::string& key : SortedKeys(*value)) {
    entries.emplace_back(key, &value->as_table().at(key));
  }
  return entries;
}

}  // namespace pgvalve::config
