#pragma once
// What a cutover asks the two servers through their control connections:
// is the target a standby streaming from the source, how far has it
// replayed, and the promotion itself. LSNs travel as numbers; the text
// form ("16/B374D848") is for reports.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "proxy/asio.h"
#include "upstream/control_connection.h"

namespace pgvalve::upstream {

using Lsn = uint64_t;

// "16/B374D848" → 0x16B374D848; nullopt for anything else.
std::optional<Lsn> ParseLsn(std::string_view text);
std::string FormatLsn(Lsn lsn);
// "16 MB", "512 kB", "0 bytes": a lag for people.
std::string FormatBytes(uint64_t bytes);

// pg_is_in_recovery(): true on a standby.
proxy::Awaitable<absl::StatusOr<bool>> IsInRecovery(ControlConnection& control);

// pg_current_wal_lsn() on a primary.
proxy::Awaitable<absl::StatusOr<Lsn>> CurrentWalLsn(ControlConnection& control);

// pg_last_wal_replay_lsn() on a standby; nullopt when it has replayed
// nothing yet (or is not a standby).
proxy::Awaitable<absl::StatusOr<std::optional<Lsn>>> ReplayLsn(ControlConnection& control);

// The standby's WAL receiver (pg_stat_wal_receiver): nullopt when none runs.
struct WalReceiver {
  std::string status;       // "streaming", "catchup", ...
  std::string sender_host;  // the primary it streams from, as it connected
  int32_t sender_port = 0;
  std::optional<Lsn> flushed_lsn;
};
proxy::Awaitable<absl::StatusOr<std::optional<WalReceiver>>> ReadWalReceiver(ControlConnection& control);

// Commits a WAL record (a transactional logical message, whatever the
// wal_level) with `text` and returns where it starts. With the session's
// synchronous_commit on, it is flushed, and so is every commit before it:
// a standby that replayed past it has them all.
proxy::Awaitable<absl::StatusOr<Lsn>> EmitMarker(ControlConnection& control, std::string text);

// pg_promote(wait => true, wait_seconds): true once the standby left
// recovery within wait_seconds.
proxy::Awaitable<absl::StatusOr<bool>> Promote(ControlConnection& control, int wait_seconds);

}  // namespace pgvalve::upstream
