// Which SQLSTATE a status carries to the client: only what was attached, and
// for a status without one, internal_error, never protocol_violation.

#include "protocol/protocol_error.h"

#include "gtest/gtest.h"
#include "protocol/sqlstate.h"

namespace pgvalve::protocol {
namespace {

TEST(SqlStateOf, AStatusWithoutOneIsAnInternalErrorWhateverItsCode) {
  for (const absl::Status& bare :
       {absl::InvalidArgumentError("pgvalve.toml: upstreams.blue.port: must be an integer"),
        absl::UnavailableError("upstream unreachable"), absl::InternalError("bug"),
        absl::DeadlineExceededError("late")}) {
    EXPECT_NE(SqlStateOf(bare), sqlstate::kProtocolViolation) << bare;
    EXPECT_EQ(SqlStateOf(bare), sqlstate::kInternalError) << bare;
  }
}

TEST(SqlStateOf, ReturnsWhatWasAttached) {
  EXPECT_EQ(SqlStateOf(ProtocolViolation("bad length")), sqlstate::kProtocolViolation);
  EXPECT_EQ(SqlStateOf(ErrorWithSqlState(sqlstate::kConfigFileError, "bad file")),
            sqlstate::kConfigFileError);
}

TEST(WithSqlState, KeepsTheCodeAndMessage) {
  const absl::Status tagged =
      WithSqlState(absl::UnavailableError("connection lost"), sqlstate::kConnectionFailure);
  EXPECT_EQ(tagged.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(tagged.message(), "connection lost");
  EXPECT_EQ(SqlStateOf(tagged), sqlstate::kConnectionFailure);
}

}  // namespace
}  // namespace pgvalve::protocol
