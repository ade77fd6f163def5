// Fuzzes the admin console's parse of a query, as far as it goes before
// anything runs: Tokenize, SplitStatements, FindCommand in the command
// table, then the command's arguments walked with ArgumentCursor's getters
// in the order its handler reads them. Input: the query text.
//
// Besides not crashing:
//   - a tokenizer error is 42601 and names a character inside the query;
//   - the tokens lie in order inside the query, each spelling its kind (a
//     quoted token is its text with the quotes doubled, between quotes), and
//     only whitespace and -- comments lie between them;
//   - the statements hold every token but the semicolons, none is empty;
//   - FindCommand returns the longest verb of the table that the statement
//     starts with, or nullptr when none does;
//   - the arguments either parse to the end or fail with 42601 (syntax) or
//     22023 (a value out of range), never anything else; the commands that
//     pick sessions are read by their real parser (ParseSessionSelection,
//     against an empty registry), which may also answer 22P02 (a malformed
//     client network) and 42704 (no such session); DRAIN's filter clauses
//     may answer 22P02 too; CUTOVER is read by its real parser
//     (ParseCutover), which answers 3D000 for "*".

#include <algorithm>
#include <optional>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "admin/commands/argument_cursor.h"
#include "admin/commands/command_table.h"
#include "admin/commands/command_tokenizer.h"
#include "admin/commands/session_selection.h"
#include "admin/jobs/cutover_options.h"
#include "admin/limits/limit_statement.h"
#include "protocol/protocol_error.h"
#include "tests/fuzz/fuzz_check.h"

namespace pgvalve::fuzz {
namespace {

using admin::ArgumentCursor;
using admin::Token;
using admin::TokenKind;

constexpr std::chrono::milliseconds kLongestDuration{7LL * 24 * 3'600'000};

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// The tokenizer's errors end with "character N" (1-based), or say
// "starting at character N".
void CheckTokenizerError(const absl::Status& status, std::string_view query) {
  PGVALVE_FUZZ_CHECK(protocol::SqlStateOf(status) == "42601");
  const std::string_view message = MessageOf(status);
  constexpr std::string_view kCharacter = "character ";
  const size_t at = message.rfind(kCharacter);
  PGVALVE_FUZZ_CHECK(at != std::string_view::npos);
  size_t position = 0;
  size_t digits = 0;
  for (size_t i = at + kCharacter.size(); i < message.size() && IsDigit(message[i]); ++i, ++digits) {
    position = position * 10 + static_cast<size_t>(message[i] - '0');
  }
  PGVALVE_FUZZ_CHECK(digits > 0 && position >= 1 && position <= query.size());
}

// What lies between two tokens: whitespace and "--" comments up to a newline.
bool IsOnlySpaceAndComments(std::string_view gap) {
  size_t pos = 0;
  while (pos < gap.size()) {
    if (IsSpace(gap[pos])) {
      ++pos;
    } else if (gap.substr(pos).starts_with("--")) {
      const size_t newline = gap.find('\n', pos);
      if (newline == std::string_view::npos) return true;
      pos = newline;
    } else {
      return false;
    }
  }
  return true;
}

std::string Requote(std::string_view text, char quote) {
  std::string out(1, quote);
  for (char c : text) {
    out.push_back(c);
    if (c == quote) out.push_back(quote);
  }
  out.push_back(quote);
  return out;
}

void CheckToken(const Token& token, std::string_view query) {
  PGVALVE_FUZZ_CHECK(token.offset < token.end && token.end <= query.size());
  const std::string_view source = query.substr(token.offset, token.end - token.offset);
  switch (token.kind) {
    case TokenKind::kComma:
      PGVALVE_FUZZ_CHECK(source == "," && token.text == ",");
      break;
    case TokenKind::kSemicolon:
      PGVALVE_FUZZ_CHECK(source == ";" && token.text == ";");
      break;
    case TokenKind::kEquals:
      PGVALVE_FUZZ_CHECK(source == "=" && token.text == "=");
      break;
    case TokenKind::kPeriod:
      PGVALVE_FUZZ_CHECK(source == "." && token.text == ".");
      break;
    case TokenKind::kNumber:
      PGVALVE_FUZZ_CHECK(token.text == source && std::all_of(source.begin(), source.end(), IsDigit));
      break;
    case TokenKind::kWord:
      PGVALVE_FUZZ_CHECK(token.text == source);
      PGVALVE_FUZZ_CHECK(std::all_of(source.begin(), source.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
      }));
      // A word that starts with a digit is a number with a unit glued on.
      PGVALVE_FUZZ_CHECK(!std::all_of(source.begin(), source.end(), IsDigit));
      break;
    case TokenKind::kQuotedIdentifier:
      PGVALVE_FUZZ_CHECK(source == Requote(token.text, '"'));
      break;
    case TokenKind::kString:
      PGVALVE_FUZZ_CHECK(source == Requote(token.text, '\''));
      break;
  }
}

void CheckTokens(const std::vector<Token>& tokens, std::string_view query) {
  size_t previous_end = 0;
  for (const Token& token : tokens) {
    CheckToken(token, query);
    PGVALVE_FUZZ_CHECK(token.offset >= previous_end);
    PGVALVE_FUZZ_CHECK(IsOnlySpaceAndComments(query.substr(previous_end, token.offset - previous_end)));
    previous_end = token.end;
  }
  PGVALVE_FUZZ_CHECK(IsOnlySpaceAndComments(query.substr(previous_end)));
}

// Case-insensitive, as PostgreSQL reads keywords; `verb` is upper case.
size_t WordsOfVerbMatched(std::span<const Token> statement, std::string_view verb) {
  size_t used = 0;
  for (size_t start = 0; start <= verb.size();) {
    size_t space = verb.find(' ', start);
    if (space == std::string_view::npos) space = verb.size();
    const std::string_view word = verb.substr(start, space - start);
    if (used >= statement.size()) return 0;
    const Token& token = statement[used];
    if (token.kind != TokenKind::kWord || token.text.size() != word.size()) return 0;
    for (size_t i = 0; i < word.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(token.text[i])) != word[i]) return 0;
    }
    ++used;
    start = space + 1;
  }
  return used;
}

void CheckFoundCommand(std::span<const Token> statement, const admin::CommandSpec* spec, size_t verb_tokens) {
  size_t longest = 0;
  for (const admin::CommandSpec& candidate : admin::CommandTable()) {
    longest = std::max(longest, WordsOfVerbMatched(statement, candidate.verb));
  }
  if (spec == nullptr) {
    PGVALVE_FUZZ_CHECK(longest == 0 && verb_tokens == 0);
    return;
  }
  PGVALVE_FUZZ_CHECK(verb_tokens > 0 && verb_tokens == longest);
  PGVALVE_FUZZ_CHECK(WordsOfVerbMatched(statement, spec->verb) == verb_tokens);
  PGVALVE_FUZZ_CHECK(static_cast<size_t>(std::count(spec->verb.begin(), spec->verb.end(), ' ')) + 1 ==
                     verb_tokens);
}

// The getters, each checked against the token it read.

absl::Status Name(ArgumentCursor& cursor) { return cursor.ExpectName("a name").status(); }

absl::Status NameList(ArgumentCursor& cursor) {
  absl::StatusOr<std::vector<std::string>> names = cursor.ExpectNameList("a role name");
  if (names.ok()) PGVALVE_FUZZ_CHECK(!names->empty());
  return names.status();
}

absl::Status Duration(ArgumentCursor& cursor) {
  absl::StatusOr<std::chrono::milliseconds> duration = cursor.ExpectDuration("a duration");
  if (duration.ok()) {
    PGVALVE_FUZZ_CHECK(duration->count() >= 0 && *duration <= kLongestDuration);
  }
  return duration.status();
}

absl::Status Integer(ArgumentCursor& cursor) { return cursor.ExpectInteger("a number").status(); }

#define RETURN_IF_ERROR(expression)                   \
  do {                                                \
    if (absl::Status s = (expression); !s.ok()) return s; \
  } while (false)

// ParseDrain in drain_commands.cc: options in any order, each at most once.
absl::Status DrainOptions(ArgumentCursor& cursor) {
  RETURN_IF_ERROR(Name(cursor));
  bool grace = false, then = false, timeout = false, including = false, except = false, nowait = false;
  const auto once = [](bool& seen) {
    if (seen) return protocol::ErrorWithSqlState("42601", "given more than once");
    seen = true;
    return absl::OkStatus();
  };
  admin::SessionFilter filter;
  while (!cursor.AtEnd()) {
    const size_t before = cursor.position();
    RETURN_IF_ERROR(admin::ParseSessionFilter(cursor, filter));
    if (cursor.position() != before) continue;
    if (cursor.AcceptKeyword("GRACE")) {
      RETURN_IF_ERROR(once(grace));
      RETURN_IF_ERROR(Duration(cursor));
    } else if (cursor.AcceptKeyword("THEN")) {
      RETURN_IF_ERROR(once(then));
      if (!cursor.AcceptKeyword("CANCEL") && !cursor.AcceptKeyword("TERMINATE") &&
          !cursor.AcceptKeyword("WAIT")) {
        return cursor.ExpectKeyword("CANCEL, TERMINATE or WAIT");
      }
    } else if (cursor.AcceptKeyword("TIMEOUT")) {
      RETURN_IF_ERROR(once(timeout));
      RETURN_IF_ERROR(Duration(cursor));
    } else if (cursor.AcceptKeyword("INCLUDING")) {
      RETURN_IF_ERROR(once(including));
      RETURN_IF_ERROR(cursor.ExpectKeyword("DIRECT"));
    } else if (cursor.AcceptKeyword("EXCEPT")) {
      RETURN_IF_ERROR(once(except));
      RETURN_IF_ERROR(cursor.ExpectKeyword("ROLE"));
      RETURN_IF_ERROR(NameList(cursor));
    } else if (cursor.AcceptKeyword("NOWAIT")) {
      RETURN_IF_ERROR(once(nowait));
    } else if (cursor.AcceptKeyword("DRY")) {
      RETURN_IF_ERROR(cursor.ExpectKeyword("RUN"));
    } else {
      return cursor.ExpectKeyword("a DRAIN option");
    }
  }
  return absl::OkStatus();
}

// A command added to the table after this walk was written: read whatever
// comes with every getter, so new rows are still exercised.
absl::Status AnyArguments(ArgumentCursor& cursor) {
  while (!cursor.AtEnd()) {
    if (Integer(cursor).ok() || cursor.ExpectString("a string").ok() || Name(cursor).ok()) continue;
    if (absl::Status duration = Duration(cursor); duration.ok()) continue;
    return cursor.ExpectKeyword(",");  // a comma: the only token no getter reads
  }
  return absl::OkStatus();
}

// The commands whose arguments ParseSessionSelection reads.
std::optional<admin::SelectionSyntax> SelectionSyntaxOf(std::string_view verb) {
  if (verb == "SHOW CLIENTS" || verb == "SHOW SESSIONS") return admin::SelectionSyntax{.target_optional = true};
  if (verb == "CANCEL" || verb == "TERMINATE") {
    return admin::SelectionSyntax{.including_direct = true, .dry_run = true};
  }
  if (verb == "KILL") return admin::SelectionSyntax{.dry_run = true};
  return std::nullopt;
}

// The arguments of `verb`, read in the order its handler reads them.
absl::Status WalkArguments(std::string_view verb, ArgumentCursor& cursor) {
  if (std::optional<admin::SelectionSyntax> syntax = SelectionSyntaxOf(verb)) {
    static const proxy::SessionRegistry kNoSessions;
    absl::StatusOr<admin::SessionSelection> selection =
        admin::ParseSessionSelection(kNoSessions, cursor, *syntax);
    if (selection.ok()) PGVALVE_FUZZ_CHECK(selection->sessions.empty());
    return selection.status();
  }
  if (verb == "SHOW BACKENDS" || verb == "ENABLE" || verb == "RESUME") {
    RETURN_IF_ERROR(Name(cursor));
  } else if (verb.starts_with("SHOW ") && verb != "SHOW DRAIN" && verb != "SHOW CUTOVER") {
    // No arguments.
  } else if (verb == "RELOAD") {
    // No arguments.
  } else if (verb == "DISABLE") {
    RETURN_IF_ERROR(Name(cursor));
    if (cursor.AcceptKeyword("EXCEPT")) {
      RETURN_IF_ERROR(cursor.ExpectKeyword("ROLE"));
      RETURN_IF_ERROR(NameList(cursor));
    }
    if (cursor.AcceptKeyword("REASON")) RETURN_IF_ERROR(cursor.ExpectString("a reason").status());
  } else if (verb == "PAUSE") {
    RETURN_IF_ERROR(Name(cursor));
    if (cursor.AcceptKeyword("TIMEOUT")) RETURN_IF_ERROR(Duration(cursor));
  } else if (verb == "KILL_CLIENT" || verb == "SHOW DRAIN" || verb == "CANCEL DRAIN" ||
             verb == "SHOW CUTOVER" || verb == "CANCEL CUTOVER") {
    RETURN_IF_ERROR(Integer(cursor));
  } else if (verb == "DRAIN") {
    RETURN_IF_ERROR(DrainOptions(cursor));
  } else if (verb == "CUTOVER") {
    RETURN_IF_ERROR(admin::ParseCutover(cursor).status());
  } else if (verb == "SWITCH") {
    RETURN_IF_ERROR(Name(cursor));
    RETURN_IF_ERROR(cursor.ExpectKeyword("TO"));
    if (!cursor.AcceptKeyword("DEFAULT")) RETURN_IF_ERROR(Name(cursor));
    cursor.AcceptKeyword("FORCE");
  } else if (verb == "SET") {
    // Its own parser: it reads tokens no getter above reads (= and .).
    RETURN_IF_ERROR(admin::ParseSetLimit(cursor).status());
  } else if (verb == "RESET") {
    RETURN_IF_ERROR(admin::ParseResetLimit(cursor).status());
  } else if (verb == "SHUTDOWN") {
    if (!cursor.AcceptKeyword("FAST")) cursor.AcceptKeyword("SMART");
  } else {
    RETURN_IF_ERROR(AnyArguments(cursor));
  }
  return cursor.ExpectEnd();
}

#undef RETURN_IF_ERROR

void CheckStatement(std::span<const Token> statement, std::string_view query) {
  PGVALVE_FUZZ_CHECK(!statement.empty());
  const std::string_view text = admin::StatementText(query, statement);
  PGVALVE_FUZZ_CHECK(text.data() == query.data() + statement.front().offset);
  PGVALVE_FUZZ_CHECK(text.size() == statement.back().end - statement.front().offset);

  size_t verb_tokens = 0;
  const admin::CommandSpec* spec = admin::FindCommand(statement, verb_tokens);
  CheckFoundCommand(statement, spec, verb_tokens);
  if (spec == nullptr) return;  // Dispatch answers 42601 "unknown admin command"
  ArgumentCursor cursor(statement.subspan(verb_tokens));
  const absl::Status parsed = WalkArguments(spec->verb, cursor);
  if (parsed.ok()) {
    PGVALVE_FUZZ_CHECK(cursor.AtEnd());
  } else {
    const std::string sqlstate = protocol::SqlStateOf(parsed);
    if (SelectionSyntaxOf(spec->verb) || spec->verb == "DRAIN") {
      PGVALVE_FUZZ_CHECK(sqlstate == "42601" || sqlstate == "22023" || sqlstate == "22P02" ||
                         sqlstate == "42704");
    } else {
      // 42704: SET or RESET of a limit that does not exist. 3D000:
      // CUTOVER of "*".
      PGVALVE_FUZZ_CHECK(sqlstate == "42601" || sqlstate == "22023" ||
                         (sqlstate == "42704" && (spec->verb == "SET" || spec->verb == "RESET")) ||
                         (sqlstate == "3D000" && spec->verb == "CUTOVER"));
    }
  }
}

}  // namespace
}  // namespace pgvalve::fuzz

extern "C" int PGVALVE_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace pgvalve;
  const std::string_view query(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<admin::Token>> tokens = admin::Tokenize(query);
  if (!tokens.ok()) {
    fuzz::CheckTokenizerError(tokens.status(), query);
    return 0;
  }
  fuzz::CheckTokens(*tokens, query);
  const size_t semicolons = static_cast<size_t>(std::count_if(
      tokens->begin(), tokens->end(), [](const admin::Token& t) { return t.kind == admin::TokenKind::kSemicolon; }));
  const size_t others = tokens->size() - semicolons;
  const std::vector<std::vector<admin::Token>> statements = admin::SplitStatements(*std::move(tokens));
  size_t kept = 0;
  for (const std::vector<admin::Token>& statement : statements) {
    for (const admin::Token& token : statement) PGVALVE_FUZZ_CHECK(token.kind != admin::TokenKind::kSemicolon);
    kept += statement.size();
    fuzz::CheckStatement(statement, query);
  }
  PGVALVE_FUZZ_CHECK(kept == others);
  return 0;
}
