#pragma once
// CUTOVER's statement: what to move where, and how patiently.
//
//   CUTOVER db TO upstream [MODE PHYSICAL | LOGICAL] [PROMOTE]
//     [MAX LAG 'size'] [GRACE 'd'] [THEN CANCEL | TERMINATE] [TIMEOUT 'd']
//     [ON TIMEOUT ABORT | PROCEED] [SYNC SEQUENCES] [INCLUDING DIRECT]
//     [NOWAIT] [DRY RUN]
//
// Clauses in any order, each at most once. Parsing only: no I/O.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "admin/commands/argument_cursor.h"

namespace pgvalve::admin {

enum class CutoverMode { kPhysical, kLogical };
std::string_view CutoverModeName(CutoverMode mode);

// What happens to a session still in a transaction when GRACE ends.
enum class CutoverEscalation { kTerminate, kCancel };
std::string_view CutoverEscalationName(CutoverEscalation escalation);

struct CutoverOptions {
  std::string database;
  std::string target;  // an upstream's name
  CutoverMode mode = CutoverMode::kPhysical;
  bool promote = false;
  // The target may be this far behind before anything is held.
  uint64_t max_lag_bytes = 16u << 20;
  std::chrono::milliseconds grace{5000};
  // TERMINATE by default: a terminated session sees one error (57P01),
  // which drivers take as "reconnect"; a cancelled one would see a 57014
  // and then the 57P01 of being moved.
  CutoverEscalation escalation = CutoverEscalation::kTerminate;
  // Bounds waiting for the lag before the hold, and, after GRACE, the hold
  // itself: no held client waits longer than GRACE + TIMEOUT.
  std::chrono::milliseconds timeout{60000};
  bool proceed_on_timeout = false;
  bool sync_sequences = false;
  bool including_direct = false;
  bool nowait = false;
  bool dry_run = false;
};

// Reads the statement after the verb. Errors: 42601 for syntax, 22023 for
// a size or combination that makes no sense (PROMOTE with LOGICAL, SYNC
// SEQUENCES with PHYSICAL).
absl::StatusOr<CutoverOptions> ParseCutover(ArgumentCursor& arguments);

// '16MB', '512kB', '1GB', '0', '1048576': PostgreSQL's memory units
// (kB, MB, GB, TB; powers of 1024) or plain bytes.
std::optional<uint64_t> ParseByteSize(std::string_view text);

}  // namespace pgvalve::admin
