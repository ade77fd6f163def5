#pragma once
// Splits an admin query into tokens: words (case-insensitive), "quoted
// identifiers" (case kept, "" for a quote), 'string literals' ('' for a
// quote), numbers, commas, semicolons, `=` and a `.` outside a word (after a
// quoted identifier, as in "My DB".query_timeout). Pure; no knowledge of
// commands.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace pgvalve::admin {

enum class TokenKind {
  kWord,
  kQuotedIdentifier,
  kString,
  kNumber,
  kComma,
  kSemicolon,
  kEquals,
  kPeriod,
};

struct Token {
  TokenKind kind;
  // Words are kept as typed; compare them with IsKeyword(). Quoted forms
  // hold their unescaped content.
  std::string text;
  size_t offset = 0;  // where the token starts in the query
  size_t end = 0;     // one past where it ends
};

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view query);

// Splits tokens into statements at semicolons; empty statements are dropped.
std::vector<std::vector<Token>> SplitStatements(std::vector<Token> tokens);

// The query text a statement's tokens were read from, quotes included.
std::string_view StatementText(std::string_view query, std::span<const Token> statement);

// Case-insensitive match of a word token against an upper-case keyword.
bool IsKeyword(const Token& token, std::string_view keyword);

}  // namespace pgvalve::admin
