#pragma once
// How a configuration error names its place: "<source>: <key path>: <what>",
// e.g. `pgvalve.toml: upstreams.blue.port: must be an integer between 1 and
// 65535, got 70000`. Key paths are written the way they appear in TOML so an
// operator can search the file for them. Readers and Validate stop at the
// first error (FirstError), so the operator fixes one thing at a time in
// file order rather than reading a cascade.

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "config/string_views.h"

namespace pgvalve::config {

// `blue` stays bare; `*` or `my db` become `"*"` / `"my db"`, as TOML
// requires for keys outside [A-Za-z0-9_-].
inline std::string QuoteKey(std::string_view key) {
  bool bare = !key.empty();
  for (char c : key) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '-';
    bare = bare && ok;
  }
  if (bare) return std::string(key);
  std::string quoted = "\"";
  for (char c : key) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

inline std::string JoinKey(std::string_view parent, std::string_view key) {
  if (parent.empty()) return QuoteKey(key);
  return absl::StrCat(AbslView(parent), ".", QuoteKey(key));
}

inline std::string IndexKey(std::string_view parent, std::size_t index) {
  return absl::StrCat(AbslView(parent), "[", index, "]");
}

// `"value"`, for quoting what the operator wrote inside a message.
inline std::string Quoted(std::string_view value) {
  return absl::StrCat("\"", AbslView(value), "\"");
}

inline absl::Status ConfigError(std::string_view source,
                                std::string_view key_path,
                                std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(
      AbslView(source), ": ", AbslView(key_path), ": ", AbslView(what)));
}

// Keeps the first error and ignores later ones, so a reader or checker can
// run straight through a list of fields and be asked once at the end, like a
// writer with a sticky failed bit.
class FirstError {
 public:
  explicit FirstError(std::string_view source) : source_(source) {}

  bool failed() const { return !status_.ok(); }
  const absl::Status& status() const { return status_; }
  void Fail(std::string_view path, std::string_view what) {
    if (status_.ok()) status_ = ConfigError(source_, path, what);
  }

 private:
  std::string source_;
  absl::Status status_;
};

}  // namespace pgvalve::config
