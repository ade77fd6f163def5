#pragma once
// Typed, path-aware access to a parsed TOML document, used only by
// config_file.cc. The first error sticks and later reads become no-ops, so
// the layout code reads as a plain list of fields with one check at the end.

#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <toml.hpp>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "config/config.h"
#include "config/config_error.h"
#include "config/validate.h"

namespace pgvalve::config {

class TomlTable {
 public:
  // A null `value` is an absent table and reads as empty, so defaults stay.
  // Fails if `value` is not a table or holds a key outside `known`.
  TomlTable(const toml::value* value, std::string path, FirstError& errors,
            std::initializer_list<std::string_view> known);
  TomlTable(const toml::value* value, std::string path, FirstError& errors,
            std::span<const std::string_view> known);

  std::string PathOf(std::string_view key) const;
  void Fail(std::string_view key, std::string_view what);

  // nullptr if absent or after an error.
  const toml::value* Get(std::string_view key) const;
  void Require(std::string_view key);

  void String(std::string_view key, std::string& out);
  void String(std::string_view key, std::optional<std::string>& out);
  void Integer(std::string_view key, IntegerRange range, int64_t& out);
  template <typename T>
  void Integer(std::string_view key, IntegerRange range, T& out) {
    int64_t value = static_cast<int64_t>(out);
    Integer(key, range, value);
    out = static_cast<T>(value);
  }
  void Timeout(std::string_view key, Duration& out);
  void Bool(std::string_view key, bool& out);
  // An array of strings, e.g. ["replicator", "backup"].
  void StringList(std::string_view key, std::vector<std::string>& out);
  void Addresses(std::string_view key, std::vector<ListenAddress>& out);
  void Role(std::string_view key, AdminRole& out);

  // The elements of an array of tables, e.g. [[admin.users]].
  std::vector<const toml::value*> TableArray(std::string_view key);

 private:
  const toml::value* value_ = nullptr;
  std::string path_;
  FirstError& errors_;
};

// The entries of a table whose keys are names ([upstreams.NAME]), sorted so
// that the first error reported does not depend on hash order.
std::vector<std::pair<std::string, const toml::value*>> NamedEntries(
    const toml::value* value, const std::string& path, FirstError& errors);

}  // namespace pgvalve::config
