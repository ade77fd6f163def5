#pragma once
// Reads a command's arguments from its tokens. Every command parses its own
// arguments with these few getters, so errors read alike everywhere:
// 42601 with what was expected and what was found.

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "admin/commands/command_tokenizer.h"

namespace pgvalve::admin {

class ArgumentCursor {
 public:
  explicit ArgumentCursor(std::span<const Token> tokens) : tokens_(tokens) {}

  bool AtEnd() const { return position_ == tokens_.size(); }
  // How many tokens have been consumed: lets a caller see whether a
  // parser took anything.
  size_t position() const { return position_; }
  // Consumes the next token if it is `keyword`.
  bool AcceptKeyword(std::string_view keyword);
  // Whether the token `ahead` places on is `keyword`; consumes nothing.
  bool PeekKeyword(std::string_view keyword, size_t ahead = 0) const;
  // Whether the next token is a number; consumes nothing.
  bool PeekIsNumber() const;
  // Consumes a comma if one comes next.
  bool AcceptComma();
  absl::Status ExpectKeyword(std::string_view keyword);
  // An identifier: a bare word, folded to lower case as PostgreSQL folds
  // unquoted identifiers, or a "quoted identifier", kept as written.
  absl::StatusOr<std::string> ExpectName(std::string_view what);
  // name [, name ...]
  absl::StatusOr<std::vector<std::string>> ExpectNameList(std::string_view what);
  absl::StatusOr<std::string> ExpectString(std::string_view what);
  // A value an operator may write bare or quoted: a word (folded to lower
  // case), a "quoted identifier" or a 'string literal' (both as written).
  absl::StatusOr<std::string> ExpectText(std::string_view what);
  absl::StatusOr<int64_t> ExpectInteger(std::string_view what);
  // '30s', 30s, '1.5 min', '250ms'.
  absl::StatusOr<std::chrono::milliseconds> ExpectDuration(std::string_view what);
  absl::Status ExpectEnd();

  // Consumes the next token if it is of `kind` (kEquals, kComma, ...).
  bool AcceptToken(TokenKind kind);
  // The next token without consuming it; nullptr at the end.
  const Token* Peek() const { return AtEnd() ? nullptr : &tokens_[position_]; }

  struct QualifiedName {
    std::string qualifier;
    std::string name;
  };
  // qualifier.name: one word (app.query_timeout, split at its last period,
  // both parts folded) or a quoted identifier, a period and a word
  // ("My DB".query_timeout).
  absl::StatusOr<QualifiedName> ExpectQualifiedName(std::string_view what);

 private:
  absl::Status Expected(std::string_view what) const;

  std::span<const Token> tokens_;
  size_t position_ = 0;
};

// Parses "30s", "1.5 min", "250ms", "2h"; a unit is required.
absl::StatusOr<std::chrono::milliseconds> ParseAdminDuration(std::string_view text);

}  // namespace pgvalve::admin
