#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pgvalve::test {

// A parsed JSON document (RFC 8259), enough to read what test servers
// answer (Prometheus's HTTP API, pgvalve's /readyz). Numbers keep their
// text, so nothing is lost to a double; the tests compare them as strings.
class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  // Parses a whole document. Throws std::runtime_error naming the byte
  // offset on malformed input, trailing bytes included.
  static JsonValue Parse(std::string_view text);

  JsonValue() = default;

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }

  // Each accessor throws std::runtime_error when the value is of another
  // kind, so a response of an unexpected shape fails the test with a reason.
  bool AsBool() const;
  // The number's text as written ("1.5e3").
  const std::string& AsNumberText() const;
  const std::string& AsString() const;
  const std::vector<JsonValue>& AsArray() const;
  const std::map<std::string, JsonValue>& AsObject() const;

  // Member `key` of an object; throws when this is not an object or has no
  // such member.
  const JsonValue& At(std::string_view key) const;
  // Whether this is an object with member `key`.
  bool Has(std::string_view key) const;

 private:
  friend class JsonParser;

  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  std::string text_;  // a string's value or a number's text
  // Behind pointers because a class cannot hold containers of itself by
  // value in every standard library.
  std::shared_ptr<std::vector<JsonValue>> array_;
  std::shared_ptr<std::map<std::string, JsonValue>> object_;
};

}  // namespace pgvalve::test
