#include "tests/support/json_value.h"

#include <cstdint>
#include <stdexcept>

namespace pgvalve::test {

// A recursive-descent reader over the document with one bounded cursor.
class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  JsonValue ParseDocument() {
    JsonValue value = ParseValue(0);
    SkipWhitespace();
    if (position_ != text_.size()) Fail("trailing bytes after the document");
    return value;
  }

 private:
  // Deeper nesting than any response the tests read; stops a runaway
  // document before it exhausts the stack.
  static constexpr int kMaxDepth = 64;

  [[noreturn]] void Fail(const std::string& what) const {
    throw std::runtime_error("JSON: " + what + " at byte " + std::to_string(position_));
  }

  void SkipWhitespace() {
    while (position_ < text_.size() && (text_[position_] == ' ' || text_[position_] == '\t' ||
                                        text_[position_] == '\n' || text_[position_] == '\r')) {
      ++position_;
    }
  }

  char Peek() {
    if (position_ >= text_.size()) Fail("unexpected end");
    return text_[position_];
  }

  void Expect(char c) {
    if (Peek() != c) Fail(std::string("expected '") + c + "'");
    ++position_;
  }

  bool ConsumeWord(std::string_view word) {
    if (text_.substr(position_, word.size()) != word) return false;
    position_ += word.size();
    return true;
  }

  JsonValue ParseValue(int depth) {
    if (depth > kMaxDepth) Fail("nesting too deep");
    SkipWhitespace();
    JsonValue value;
    const char c = Peek();
    if (c == '{') {
      value.kind_ = JsonValue::Kind::kObject;
      value.object_ = std::make_shared<std::map<std::string, JsonValue>>(ParseObject(depth));
    } else if (c == '[') {
      value.kind_ = JsonValue::Kind::kArray;
      value.array_ = std::make_shared<std::vector<JsonValue>>(ParseArray(depth));
    } else if (c == '"') {
      value.kind_ = JsonValue::Kind::kString;
      value.text_ = ParseString();
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      value.kind_ = JsonValue::Kind::kNumber;
      value.text_ = ParseNumber();
    } else if (ConsumeWord("true")) {
      value.kind_ = JsonValue::Kind::kBool;
      value.bool_ = true;
    } else if (ConsumeWord("false")) {
      value.kind_ = JsonValue::Kind::kBool;
    } else if (!ConsumeWord("null")) {
      Fail("unexpected character");
    }
    return value;
  }

  std::map<std::string, JsonValue> ParseObject(int depth) {
    std::map<std::string, JsonValue> members;
    Expect('{');
    SkipWhitespace();
    if (Peek() == '}') {
      ++position_;
      return members;
    }
    for (;;) {
      SkipWhitespace();
      std::string key = ParseString();
      SkipWhitespace();
      Expect(':');
      members.insert_or_assign(std::move(key), ParseValue(depth + 1));
      SkipWhitespace();
      if (Peek() == '}') {
        ++position_;
        return members;
      }
      Expect(',');
    }
  }

  std::vector<JsonValue> ParseArray(int depth) {
    std::vector<JsonValue> elements;
    Expect('[');
    SkipWhitespace();
    if (Peek() == ']') {
      ++position_;
      return elements;
    }
    for (;;) {
      elements.push_back(ParseValue(depth + 1));
      SkipWhitespace();
      if (Peek() == ']') {
        ++position_;
        return elements;
      }
      Expect(',');
    }
  }

  std::string ParseNumber() {
    const size_t start = position_;
    auto digits = [&] {
      const size_t first = position_;
      while (position_ < text_.size() && text_[position_] >= '0' && text_[position_] <= '9') {
        ++position_;
      }
      if (position_ == first) Fail("expected a digit");
    };
    if (Peek() == '-') ++position_;
    digits();
    if (position_ < text_.size() && text_[position_] == '.') {
      ++position_;
      digits();
    }
    if (position_ < text_.size() && (text_[position_] == 'e' || text_[position_] == 'E')) {
      ++position_;
      if (position_ < text_.size() && (text_[position_] == '+' || text_[position_] == '-')) {
        ++position_;
      }
      digits();
    }
    return std::string(text_.substr(start, position_ - start));
  }

  uint32_t ParseHex4() {
    uint32_t code = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = Peek();
      ++position_;
      code <<= 4;
      if (c >= '0' && c <= '9') {
        code |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        code |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        code |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        Fail("bad \\u escape");
      }
    }
    return code;
  }

  static void AppendUtf8(std::string& out, uint32_t code) {
    if (code < 0x80) {
      out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (code >> 6)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (code >> 12)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (code >> 18)));
      out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  // \uXXXX, with a UTF-16 surrogate pair read as one code point.
  uint32_t ParseCodePoint() {
    const uint32_t code = ParseHex4();
    if (code < 0xD800 || code > 0xDFFF) return code;
    if (code > 0xDBFF || !ConsumeWord("\\u")) Fail("unpaired surrogate");
    const uint32_t low = ParseHex4();
    if (low < 0xDC00 || low > 0xDFFF) Fail("unpaired surrogate");
    return 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
  }

  std::string ParseString() {
    Expect('"');
    std::string value;
    for (;;) {
      const char c = Peek();
      ++position_;
      if (c == '"') return value;
      if (static_cast<unsigned char>(c) < 0x20) Fail("control character in a string");
      if (c != '\\') {
        value.push_back(c);
        continue;
      }
      const char escaped = Peek();
      ++position_;
      switch (escaped) {
        case '"': value.push_back('"'); break;
        case '\\': value.push_back('\\'); break;
        case '/': value.push_back('/'); break;
        case 'b': value.push_back('\b'); break;
        case 'f': value.push_back('\f'); break;
        case 'n': value.push_back('\n'); break;
        case 'r': value.push_back('\r'); break;
        case 't': value.push_back('\t'); break;
        case 'u': AppendUtf8(value, ParseCodePoint()); break;
        default: Fail("bad escape");
      }
    }
  }

  std::string_view text_;
  size_t position_ = 0;
};

namespace {

const char* KindName(JsonValue::Kind kind) {
  switch (kind) {
    case JsonValue::Kind::kNull: return "null";
    case JsonValue::Kind::kBool: return "a boolean";
    case JsonValue::Kind::kNumber: return "a number";
    case JsonValue::Kind::kString: return "a string";
    case JsonValue::Kind::kArray: return "an array";
    case JsonValue::Kind::kObject: return "an object";
  }
  return "?";
}

void Require(JsonValue::Kind actual, JsonValue::Kind wanted) {
  if (actual != wanted) {
    throw std::runtime_error(std::string("JSON: expected ") + KindName(wanted) + ", found " +
                             KindName(actual));
  }
}

}  // namespace

JsonValue JsonValue::Parse(std::string_view text) { return JsonParser(text).ParseDocument(); }

bool JsonValue::AsBool() const {
  Require(kind_, Kind::kBool);
  return bool_;
}

const std::string& JsonValue::AsNumberText() const {
  Require(kind_, Kind::kNumber);
  return text_;
}

const std::string& JsonValue::AsString() const {
  Require(kind_, Kind::kString);
  return text_;
}

const std::vector<JsonValue>& JsonValue::AsArray() const {
  Require(kind_, Kind::kArray);
  return *array_;
}

const std::map<std::string, JsonValue>& JsonValue::AsObject() const {
  Require(kind_, Kind::kObject);
  return *object_;
}

const JsonValue& JsonValue::At(std::string_view key) const {
  const auto& members = AsObject();
  const auto found = members.find(std::string(key));
  if (found == members.end()) {
    throw std::runtime_error("JSON: no member \"" + std::string(key) + "\"");
  }
  return found->second;
}

bool JsonValue::Has(std::string_view key) const {
  return kind_ == Kind::kObject && object_->count(std::string(key)) != 0;
}

}  // namespace pgvalve::test
