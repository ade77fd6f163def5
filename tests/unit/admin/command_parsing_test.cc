// The admin console's statement parsing, below the commands: the tokenizer
// and the argument cursor every command reads its arguments with.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "admin/commands/argument_cursor.h"
#include "admin/commands/command_tokenizer.h"
#include "protocol/protocol_error.h"

namespace pgvalve::admin {
namespace {

using std::chrono::milliseconds;

std::vector<Token> TokensOf(std::string_view query) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(query);
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  return tokens.ok() ? *std::move(tokens) : std::vector<Token>{};
}

std::string KindsOf(const std::vector<Token>& tokens) {
  std::string kinds;
  for (const Token& token : tokens) {
    switch (token.kind) {
      case TokenKind::kWord: kinds += 'w'; break;
      case TokenKind::kQuotedIdentifier: kinds += 'i'; break;
      case TokenKind::kString: kinds += 's'; break;
      case TokenKind::kNumber: kinds += 'n'; break;
      case TokenKind::kComma: kinds += ','; break;
      case TokenKind::kSemicolon: kinds += ';'; break;
      case TokenKind::kEquals: kinds += '='; break;
      case TokenKind::kPeriod: kinds += '.'; break;
    }
  }
  return kinds;
}

TEST(CommandTokenizer, ReadsEachKindOfToken) {
  const auto tokens = TokensOf("DISABLE \"My DB\" EXCEPT ROLE a, b REASON 'it''s late' TIMEOUT 30s 42;");
  EXPECT_EQ(KindsOf(tokens), "wiwww,wwswwn;");
  EXPECT_EQ(tokens[1].text, "My DB");
  EXPECT_EQ(tokens[8].text, "it's late");
  EXPECT_EQ(tokens[10].text, "30s") << "a unit glued to a number makes a word";
  EXPECT_EQ(tokens[11].text, "42");
}

TEST(CommandTokenizer, EqualsAndAPeriodOutsideAWord) {
  const auto tokens = TokensOf("SET app.query_timeout='1s'; SET \"My DB\".client_idle_timeout = 0");
  EXPECT_EQ(KindsOf(tokens), "ww=s;wi.w=n");
  EXPECT_EQ(tokens[1].text, "app.query_timeout") << "inside a word a period is part of it";
  EXPECT_EQ(tokens[7].text, ".");
}

TEST(CommandTokenizer, DoubledQuotesAndOffsets) {
  const std::string query = "PAUSE \"a\"\"b\"";
  const auto tokens = TokensOf(query);
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[1].text, "a\"b");
  EXPECT_EQ(StatementText(query, tokens), query) << "quotes included";
  EXPECT_EQ(tokens[1].offset, 6u);
  EXPECT_EQ(tokens[1].end, query.size());
}

TEST(CommandTokenizer, CommentsAndWhitespaceAreSkipped) {
  EXPECT_EQ(KindsOf(TokensOf("  SHOW -- the clients\n\tCLIENTS\r\n")), "ww");
  EXPECT_TRUE(TokensOf("-- nothing but a comment").empty());
}

TEST(CommandTokenizer, MalformedInputIsASyntaxError) {
  for (std::string_view bad : {"DISABLE 'open", "DISABLE \"open", "SHOW @", "KILL $1", "X \x01"}) {
    absl::StatusOr<std::vector<Token>> tokens = Tokenize(bad);
    ASSERT_FALSE(tokens.ok()) << bad;
    EXPECT_EQ(protocol::SqlStateOf(tokens.status()), "42601") << bad;
  }
}

TEST(CommandTokenizer, SplitsStatementsAndDropsEmptyOnes) {
  const auto statements = SplitStatements(TokensOf(";; SHOW CLIENTS ; ; SHOW STATS;"));
  ASSERT_EQ(statements.size(), 2u);
  EXPECT_EQ(KindsOf(statements[0]), "ww");
  EXPECT_EQ(statements[1][1].text, "STATS");
  EXPECT_TRUE(SplitStatements(TokensOf(";;;")).empty());
}

TEST(CommandTokenizer, KeywordsMatchWordsOnlyAndIgnoreCase) {
  const auto tokens = TokensOf("disable \"DISABLE\" 'DISABLE' DiSaBlE");
  EXPECT_TRUE(IsKeyword(tokens[0], "DISABLE"));
  EXPECT_FALSE(IsKeyword(tokens[1], "DISABLE")) << "a quoted identifier is a name";
  EXPECT_FALSE(IsKeyword(tokens[2], "DISABLE"));
  EXPECT_TRUE(IsKeyword(tokens[3], "DISABLE"));
  EXPECT_FALSE(IsKeyword(tokens[0], "DISABLED"));
}

TEST(ArgumentCursor, NamesFoldUnlessQuoted) {
  const auto tokens = TokensOf("App \"App\" 'App'");
  ArgumentCursor arguments(tokens);
  EXPECT_EQ(*arguments.ExpectName("a name"), "app");
  EXPECT_EQ(*arguments.ExpectName("a name"), "App");
  absl::StatusOr<std::string> literal = arguments.ExpectName("a database name");
  ASSERT_FALSE(literal.ok());
  EXPECT_EQ(protocol::SqlStateOf(literal.status()), "42601");
  EXPECT_NE(std::string(literal.status().message()).find("expected a database name, found \"App\""),
            std::string::npos)
      << literal.status();
}

TEST(ArgumentCursor, NameListsAndKeywords) {
  const auto tokens = TokensOf("EXCEPT ROLE alice, \"Bob\" , carol REASON");
  ArgumentCursor arguments(tokens);
  EXPECT_FALSE(arguments.AcceptKeyword("ROLE"));
  EXPECT_TRUE(arguments.AcceptKeyword("EXCEPT"));
  EXPECT_TRUE(arguments.ExpectKeyword("ROLE").ok());
  EXPECT_EQ(*arguments.ExpectNameList("a role"), (std::vector<std::string>{"alice", "Bob", "carol"}));
  EXPECT_FALSE(arguments.ExpectEnd().ok());
  EXPECT_TRUE(arguments.AcceptKeyword("REASON"));
  EXPECT_TRUE(arguments.ExpectEnd().ok());
  EXPECT_EQ(protocol::SqlStateOf(arguments.ExpectKeyword("TIMEOUT")), "42601");
}

TEST(ArgumentCursor, ListEndingInACommaIsAnError) {
  const auto tokens = TokensOf("alice,");
  ArgumentCursor arguments(tokens);
  EXPECT_FALSE(arguments.ExpectNameList("a role").ok());
}

TEST(ArgumentCursor, Integers) {
  const auto tokens = TokensOf("42 99999999999999999999 x");
  ArgumentCursor arguments(tokens);
  EXPECT_EQ(*arguments.ExpectInteger("a pid"), 42);
  EXPECT_FALSE(arguments.ExpectInteger("a pid").ok()) << "out of range";
}

TEST(ArgumentCursor, DurationsAsWordsOrStrings) {
  const auto tokens = TokensOf("30s '1.5 min' '250ms' 2h '10 parsecs' 5");
  ArgumentCursor arguments(tokens);
  EXPECT_EQ(*arguments.ExpectDuration("a duration"), milliseconds(30'000));
  EXPECT_EQ(*arguments.ExpectDuration("a duration"), milliseconds(90'000));
  EXPECT_EQ(*arguments.ExpectDuration("a duration"), milliseconds(250));
  EXPECT_EQ(*arguments.ExpectDuration("a duration"), milliseconds(7'200'000));
  absl::StatusOr<milliseconds> unknown_unit = arguments.ExpectDuration("a duration");
  ASSERT_FALSE(unknown_unit.ok());
  EXPECT_EQ(protocol::SqlStateOf(unknown_unit.status()), "22023");
  EXPECT_FALSE(arguments.ExpectDuration("a duration").ok()) << "a unit is required";
}

TEST(ArgumentCursor, QualifiedNames) {
  const auto tokens = TokensOf("App.Query_Timeout \"My DB\".Limit my.db.x \"a\" = .x app.");
  ArgumentCursor arguments(tokens);
  auto name = arguments.ExpectQualifiedName("db.limit");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(name->qualifier, "app");
  EXPECT_EQ(name->name, "query_timeout");
  name = arguments.ExpectQualifiedName("db.limit");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(name->qualifier, "My DB") << "quoted: kept as written";
  EXPECT_EQ(name->name, "limit");
  name = arguments.ExpectQualifiedName("db.limit");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(name->qualifier, "my.db") << "split at the last period";
  EXPECT_EQ(name->name, "x");
  for (int bad = 0; bad < 3; ++bad) {
    const absl::StatusOr<ArgumentCursor::QualifiedName> rejected = arguments.ExpectQualifiedName("db.limit");
    ASSERT_FALSE(rejected.ok());
    EXPECT_EQ(protocol::SqlStateOf(rejected.status()), "42601");
    // Skip what was refused: "a" =, then .x, then app.
    if (bad == 0) {
      ASSERT_TRUE(arguments.ExpectName("a").ok());
      EXPECT_TRUE(arguments.AcceptToken(TokenKind::kEquals));
    } else if (bad == 1) {
      EXPECT_TRUE(arguments.AcceptToken(TokenKind::kPeriod));
      ASSERT_TRUE(arguments.ExpectName("x").ok());
    }
  }
}

TEST(ParseAdminDuration, RejectsWhatIsNotADuration) {
  for (std::string_view bad : {"", "s", "-1s", "1e3s", "1..5s", "8 days", "200h", "nan s", "1 s s"}) {
    EXPECT_FALSE(ParseAdminDuration(bad).ok()) << bad;
  }
  EXPECT_EQ(*ParseAdminDuration("0s"), milliseconds(0));
  EXPECT_EQ(*ParseAdminDuration("168 hours"), milliseconds(7LL * 24 * 3'600'000));
}

}  // namespace
}  // namespace pgvalve::admin
