// CUTOVER's statement as the admin console reads it: every clause in any
// order, each once; sizes in PostgreSQL's units; the combinations that make
// no sense refused with 22023 before anything runs.

#include "admin/jobs/cutover_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "admin/commands/command_tokenizer.h"
#include "tests/unit/admin/status_matchers.h"
#include "upstream/replication_queries.h"

namespace pgvalve::admin {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using testutil::HasSqlState;

absl::StatusOr<CutoverOptions> Parse(std::string_view arguments) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(arguments);
  if (!tokens.ok()) return tokens.status();
  ArgumentCursor cursor(*tokens);
  return ParseCutover(cursor);
}

TEST(CutoverOptions, DefaultsAreThoseTheDocumentationPromises) {
  absl::StatusOr<CutoverOptions> options = Parse("app TO green PROMOTE");
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->database, "app");
  EXPECT_EQ(options->target, "green");
  EXPECT_EQ(options->mode, CutoverMode::kPhysical);
  EXPECT_TRUE(options->promote);
  EXPECT_EQ(options->max_lag_bytes, 16u << 20);
  EXPECT_EQ(options->grace, milliseconds(5000));
  EXPECT_EQ(options->escalation, CutoverEscalation::kTerminate);
  EXPECT_EQ(options->timeout, milliseconds(60000));
  EXPECT_FALSE(options->proceed_on_timeout);
  EXPECT_FALSE(options->including_direct || options->nowait || options->dry_run || options->sync_sequences);
}

TEST(CutoverOptions, ReadsEveryClauseInAnyOrder) {
  absl::StatusOr<CutoverOptions> options =
      Parse("\"App\" TO \"Green\" DRY RUN NOWAIT INCLUDING DIRECT ON TIMEOUT PROCEED TIMEOUT '90s' "
            "THEN CANCEL GRACE '2s' MAX LAG '512kB' PROMOTE MODE PHYSICAL");
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->database, "App");
  EXPECT_EQ(options->target, "Green");
  EXPECT_EQ(options->max_lag_bytes, 512u << 10);
  EXPECT_EQ(options->grace, milliseconds(2000));
  EXPECT_EQ(options->escalation, CutoverEscalation::kCancel);
  EXPECT_EQ(options->timeout, milliseconds(90000));
  EXPECT_TRUE(options->proceed_on_timeout && options->including_direct && options->nowait && options->dry_run);

  options = Parse("app TO green MODE LOGICAL SYNC SEQUENCES");
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->mode, CutoverMode::kLogical);
  EXPECT_TRUE(options->sync_sequences);
}

TEST(CutoverOptions, RefusesWhatCannotBeMeant) {
  EXPECT_THAT(Parse("app TO green PROMOTE PROMOTE"), HasSqlState("42601"));
  EXPECT_THAT(Parse("app TO green GRACE '1s' GRACE '2s'"), HasSqlState("42601"));
  EXPECT_THAT(Parse("app green"), HasSqlState("42601"));
  EXPECT_THAT(Parse("app TO"), HasSqlState("42601"));
  EXPECT_THAT(Parse("app TO green THEN WAIT"), HasSqlState("42601"));
  EXPECT_THAT(Parse("app TO green MODE SIDEWAYS"), HasSqlState("42601"));
  EXPECT_THAT(Parse("app TO green SOONISH"), HasSqlState("42601"));
  EXPECT_THAT(Parse("app TO green MAX LAG '16 parsecs'"), HasSqlState("22023"));
  EXPECT_THAT(Parse("app TO green MODE LOGICAL PROMOTE"), HasSqlState("22023"));
  EXPECT_THAT(Parse("app TO green SYNC SEQUENCES"), HasSqlState("22023"));
  EXPECT_THAT(Parse("app TO green TIMEOUT '0s'"), HasSqlState("22023"));
  absl::StatusOr<CutoverOptions> star = Parse("\"*\" TO green PROMOTE");
  EXPECT_THAT(star, HasSqlState("3D000"));
  EXPECT_THAT(std::string(star.status().message()), HasSubstr("one database"));
}

TEST(ByteSize, TakesPostgresUnitsAndPlainBytes) {
  EXPECT_EQ(ParseByteSize("0"), 0u);
  EXPECT_EQ(ParseByteSize("1048576"), 1048576u);
  EXPECT_EQ(ParseByteSize("16MB"), 16u << 20);
  EXPECT_EQ(ParseByteSize(" 16 MB "), 16u << 20);
  EXPECT_EQ(ParseByteSize("1GB"), 1ull << 30);
  EXPECT_EQ(ParseByteSize("2TB"), 2ull << 40);
  EXPECT_EQ(ParseByteSize("8kB"), 8u << 10);
  EXPECT_EQ(ParseByteSize("8KB"), std::nullopt) << "PostgreSQL spells it kB";
  EXPECT_EQ(ParseByteSize("-1MB"), std::nullopt);
  EXPECT_EQ(ParseByteSize("MB"), std::nullopt);
  EXPECT_EQ(ParseByteSize(""), std::nullopt);
  EXPECT_EQ(ParseByteSize("99999999999999TB"), std::nullopt) << "overflow";
}

TEST(Lsn, ReadsAndWritesPostgresText) {
  EXPECT_EQ(upstream::ParseLsn("0/0"), 0u);
  EXPECT_EQ(upstream::ParseLsn("16/B374D848"), 0x16B374D848u);
  EXPECT_EQ(upstream::ParseLsn("FFFFFFFF/FFFFFFFF"), UINT64_MAX);
  EXPECT_EQ(upstream::FormatLsn(0x16B374D848u), "16/B374D848");
  EXPECT_EQ(upstream::FormatLsn(0), "0/0");
  for (std::string_view bad : {"", "/", "16/", "/B3", "16B374D848", "1/2/3", "G/0", "100000000/0", "0/ 1"}) {
    EXPECT_EQ(upstream::ParseLsn(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(upstream::FormatBytes(0), "0 bytes");
  EXPECT_EQ(upstream::FormatBytes(16u << 20), "16 MB");
}

}  // namespace
}  // namespace pgvalve::admin
