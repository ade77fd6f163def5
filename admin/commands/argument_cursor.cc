#include "admin/commands/argument_cursor.h"

#include <cctype>
#include <charconv>
#include <cmath>

#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"

namespace pgvalve::admin {
namespace {

absl::Status SyntaxError(std::string_view message) {
  return protocol::ErrorWithSqlState(protocol::sqlstate::kSyntaxError, message);
}

std::string Lowercase(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

}  // namespace

absl::StatusOr<std::chrono::milliseconds> ParseAdminDuration(std::string_view text) {
  auto invalid = [&] {
    return protocol::ErrorWithSqlState(
        protocol::sqlstate::kInvalidParameterValue,
        fmt::format("invalid duration \"{}\": use a number and a unit, e.g. '500ms', '30s', '2min'",
                    text));
  };
  size_t number_end = 0;
  while (number_end < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[number_end])) || text[number_end] == '.')) {
    ++number_end;
  }
  double amount = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + number_end, amount);
  if (number_end == 0 || error != std::errc() || end != text.data() + number_end) return invalid();
  std::string unit = Lowercase(text.substr(number_end));
  std::erase_if(unit, [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
  double millis_per_unit = 0;
  if (unit == "ms" || unit == "msec" || unit == "milliseconds") {
    millis_per_unit = 1;
  } else if (unit == "s" || unit == "sec" || unit == "second" || unit == "seconds") {
    millis_per_unit = 1000;
  } else if (unit == "min" || unit == "minute" || unit == "minutes") {
    millis_per_unit = 60'000;
  } else if (unit == "h" || unit == "hour" || unit == "hours") {
    millis_per_unit = 3'600'000;
  } else {
    return invalid();
  }
  double millis = amount * millis_per_unit;
  if (!std::isfinite(millis) || millis > 7 * 24 * 3'600'000.0) return invalid();
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(millis)));
}

absl::Status ArgumentCursor::Expected(std::string_view what) const {
  if (AtEnd()) return SyntaxError(fmt::format("expected {} at end of command", what));
  return SyntaxError(fmt::format("expected {}, found \"{}\"", what, tokens_[position_].text));
}

bool ArgumentCursor::AcceptKeyword(std::string_view keyword) {
  if (AtEnd() || !IsKeyword(tokens_[position_], keyword)) return false;
  ++position_;
  return true;
}

bool ArgumentCursor::PeekKeyword(std::string_view keyword, size_t ahead) const {
  return position_ + ahead < tokens_.size() && IsKeyword(tokens_[position_ + ahead], keyword);
}

bool ArgumentCursor::PeekIsNumber() const {
  return !AtEnd() && tokens_[position_].kind == TokenKind::kNumber;
}

bool ArgumentCursor::AcceptComma() {
  if (AtEnd() || tokens_[position_].kind != TokenKind::kComma) return false;
  ++position_;
  return true;
}

absl::Status ArgumentCursor::ExpectKeyword(std::string_view keyword) {
  if (AcceptKeyword(keyword)) return absl::OkStatus();
  return Expected(keyword);
}

absl::StatusOr<std::string> ArgumentCursor::ExpectName(std::string_view what) {
  if (AtEnd()) return Expected(what);
  const Token& token = tokens_[position_];
  if (token.kind == TokenKind::kQuotedIdentifier) {
    ++position_;
    return token.text;
  }
  if (token.kind == TokenKind::kWord) {
    ++position_;
    return Lowercase(token.text);
  }
  return Expected(what);
}

absl::StatusOr<std::vector<std::string>> ArgumentCursor::ExpectNameList(std::string_view what) {
  std::vector<std::string> names;
  do {
    absl::StatusOr<std::string> name = ExpectName(what);
    if (!name.ok()) return name.status();
    names.push_back(*std::move(name));
  } while (AcceptComma());
  return names;
}

absl::StatusOr<std::string> ArgumentCursor::ExpectString(std::string_view what) {
  if (AtEnd() || tokens_[position_].kind != TokenKind::kString) return Expected(what);
  return tokens_[position_++].text;
}

absl::StatusOr<std::string> ArgumentCursor::ExpectText(std::string_view what) {
  if (!AtEnd() && tokens_[position_].kind == TokenKind::kString) return tokens_[position_++].text;
  return ExpectName(what);
}

absl::StatusOr<int64_t> ArgumentCursor::ExpectInteger(std::string_view what) {
  if (AtEnd() || tokens_[position_].kind != TokenKind::kNumber) return Expected(what);
  const std::string& text = tokens_[position_].text;
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return Expected(what);
  ++position_;
  return value;
}

absl::StatusOr<std::chrono::milliseconds> ArgumentCursor::ExpectDuration(std::string_view what) {
  if (AtEnd()) return Expected(what);
  const Token& token = tokens_[position_];
  if (token.kind != TokenKind::kString && token.kind != TokenKind::kWord) return Expected(what);
  absl::StatusOr<std::chrono::milliseconds> duration = ParseAdminDuration(token.text);
  if (duration.ok()) ++position_;
  return duration;
}

bool ArgumentCursor::AcceptToken(TokenKind kind) {
  if (AtEnd() || tokens_[position_].kind != kind) return false;
  ++position_;
  return true;
}

absl::StatusOr<ArgumentCursor::QualifiedName> ArgumentCursor::ExpectQualifiedName(
    std::string_view what) {
  if (AtEnd()) return Expected(what);
  const Token& token = tokens_[position_];
  if (token.kind == TokenKind::kWord) {
    const size_t period = token.text.rfind('.');
    if (period == std::string::npos || period == 0 || period + 1 == token.text.size()) {
      return Expected(what);
    }
    ++position_;
    return QualifiedName{Lowercase(token.text.substr(0, period)),
                         Lowercase(token.text.substr(period + 1))};
  }
  if (token.kind != TokenKind::kQuotedIdentifier || position_ + 2 >= tokens_.size() ||
      tokens_[position_ + 1].kind != TokenKind::kPeriod ||
      tokens_[position_ + 2].kind != TokenKind::kWord) {
    return Expected(what);
  }
  position_ += 3;
  return QualifiedName{token.text, Lowercase(tokens_[position_ - 1].text)};
}

absl::Status ArgumentCursor::ExpectEnd() {
  if (AtEnd()) return absl::OkStatus();
  return SyntaxError(fmt::format("unexpected \"{}\" at the end of the command",
                                 tokens_[position_].text));
}

}  // namespace pgvalve::admin
