#include "admin/commands/command_tokenizer.h"

#include <cctype>

#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"

namespace pgvalve::admin {
namespace {

bool IsWordStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsWordPart(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
}

absl::Status SyntaxError(std::string_view message) {
  return protocol::ErrorWithSqlState(protocol::sqlstate::kSyntaxError, message);
}

// Reads a quoted run starting at `start` (on the opening quote); a doubled
// quote stands for one.
absl::StatusOr<std::string> ReadQuoted(std::string_view query, size_t& pos, char quote) {
  const size_t start = pos;
  std::string text;
  ++pos;
  while (pos < query.size()) {
    char c = query[pos++];
    if (c != quote) {
      text.push_back(c);
      continue;
    }
    if (pos < query.size() && query[pos] == quote) {
      text.push_back(quote);
      ++pos;
      continue;
    }
    return text;
  }
  return SyntaxError(fmt::format("unterminated {} starting at character {}",
                                 quote == '"' ? "quoted identifier" : "string literal", start + 1));
}

}  // namespace

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view query) {
  std::vector<Token> tokens;
  size_t pos = 0;
  while (pos < query.size()) {
    const char c = query[pos];
    const size_t start = pos;
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++pos;
    } else if (c == '-' && pos + 1 < query.size() && query[pos + 1] == '-') {
      while (pos < query.size() && query[pos] != '\n') ++pos;  // SQL comment
    } else if (c == ',') {
      tokens.push_back({TokenKind::kComma, ",", start, start + 1});
      ++pos;
    } else if (c == ';') {
      tokens.push_back({TokenKind::kSemicolon, ";", start, start + 1});
      ++pos;
    } else if (c == '=') {
      tokens.push_back({TokenKind::kEquals, "=", start, start + 1});
      ++pos;
    } else if (c == '.') {
      // Inside a word a period is part of it (app.query_timeout); here it
      // follows a quoted identifier or stands alone.
      tokens.push_back({TokenKind::kPeriod, ".", start, start + 1});
      ++pos;
    } else if (c == '"' || c == '\'') {
      absl::StatusOr<std::string> text = ReadQuoted(query, pos, c);
      if (!text.ok()) return text.status();
      tokens.push_back({c == '"' ? TokenKind::kQuotedIdentifier : TokenKind::kString,
                        *std::move(text), start, pos});
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      while (pos < query.size() && std::isdigit(static_cast<unsigned char>(query[pos]))) ++pos;
      // A unit glued to a number ("30s") makes it a word, read as a duration.
      bool word = pos < query.size() && IsWordPart(query[pos]);
      while (pos < query.size() && IsWordPart(query[pos])) ++pos;
      tokens.push_back({word ? TokenKind::kWord : TokenKind::kNumber,
                        std::string(query.substr(start, pos - start)), start, pos});
    } else if (IsWordStart(c)) {
      while (pos < query.size() && IsWordPart(query[pos])) ++pos;
      tokens.push_back(
          {TokenKind::kWord, std::string(query.substr(start, pos - start)), start, pos});
    } else {
      return SyntaxError(fmt::format("syntax error at or near \"{}\" (character {})", c, start + 1));
    }
  }
  return tokens;
}

std::vector<std::vector<Token>> SplitStatements(std::vector<Token> tokens) {
  std::vector<std::vector<Token>> statements(1);
  for (Token& token : tokens) {
    if (token.kind == TokenKind::kSemicolon) {
      if (!statements.back().empty()) statements.emplace_back();
      continue;
    }
    statements.back().push_back(std::move(token));
  }
  if (statements.back().empty()) statements.pop_back();
  return statements;
}

std::string_view StatementText(std::string_view query, std::span<const Token> statement) {
  if (statement.empty()) return {};
  return query.substr(statement.front().offset, statement.back().end - statement.front().offset);
}

bool IsKeyword(const Token& token, std::string_view keyword) {
  if (token.kind != TokenKind::kWord || token.text.size() != keyword.size()) return false;
  for (size_t i = 0; i < keyword.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(token.text[i])) != keyword[i]) return false;
  }
  return true;
}

}  // namespace pgvalve::admin
