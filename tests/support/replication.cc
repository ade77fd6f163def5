#include "tests/support/replication.h"

#include <stdexcept>
#include <string>

#include "tests/support/libpq_helpers.h"

namespace pgvalve::test {
namespace {

using std::chrono::milliseconds;

// An LSN that follows everything committed on `server` so far, flushed so
// that walsenders may send it at once. The message is transactional so
// that its commit, synchronous here whatever the server's default, flushes
// it: a non-transactional one waits in the WAL buffers for someone else's
// flush, which an idle server may not do for seconds.
std::string WalMarker(const PgServer& server) {
  return server.QueryScalar(
      "SET synchronous_commit = on;"
      "SELECT pg_logical_emit_message(true, 'pgvalve_test', 'catch-up')");
}

// Runs `step`, adding `other`'s log to the message of a runtime_error: a
// replication failure is often explained on the other side.
template <typename Step>
void WithOtherLog(const PgServer& other, std::string_view other_name, Step step) {
  try {
    step();
  } catch (const std::runtime_error& error) {
    throw std::runtime_error(std::string(error.what()) + "\n" + std::string(other_name) +
                             "'s log:\n" + other.LogTail());
  }
}

}  // namespace

void WaitForReplayCatchUp(const PgServer& primary, const PgServer& standby,
                          milliseconds timeout) {
  const std::string marker = WalMarker(primary);
  WithOtherLog(primary, "primary", [&] {
    standby.WaitUntilTrue("SELECT pg_last_wal_replay_lsn() >= " + QuoteLiteral(marker) + "::pg_lsn",
                          timeout);
  });
}

}  // namespace pgvalve::test
