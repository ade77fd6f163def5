#pragma once
// Waiting on libpq with a deadline. A blocking libpq call on a proxy that
// stopped relaying would hang a test until ctest's timeout; these helpers
// poll the connection's socket instead and throw PgError when the deadline
// passes, so the test fails with a message naming what it waited for.

#include <libpq-fe.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/libpq_helpers.h"

namespace pgvalve::test {

using Deadline = std::chrono::steady_clock::time_point;

inline Deadline DeadlineAfter(std::chrono::milliseconds timeout) {
  return std::chrono::steady_clock::now() + timeout;
}

// How long one step (one result, one notification, one admin command)
// may take before a test calls it a hang: far above what any step needs,
// even in a sanitizer build on a busy two-core machine. It only decides
// when a hang is reported, never what a test expects. Every end-to-end
// test uses this one value.
inline constexpr std::chrono::seconds kHangGuard{60};

struct PgNotifyFreer {
  void operator()(PGnotify* notify) const noexcept { PQfreemem(notify); }
};
using PgNotify = std::unique_ptr<PGnotify, PgNotifyFreer>;

// Waits until `conn`'s socket has something to read or was closed: true
// then, false once the deadline passes. A connection without a socket
// (after it broke) counts as readable, so that the caller's
// PQconsumeInput reports why at once. Throws PgError if poll fails.
bool WaitReadable(PGconn* conn, Deadline deadline);

// Waits until PQgetResult would not block, then returns its result: null
// once the current query (or pipeline item) has no more results. Throws
// PgError naming `what` if the deadline passes or the connection breaks.
PgResult NextResult(PGconn* conn, Deadline deadline, const std::string& what = "a result");

// PQsendQuery + every result until the null one; the results in order.
// Throws PgError if the query cannot be sent.
std::vector<PgResult> SendAndCollect(PGconn* conn, const std::string& sql, Deadline deadline);

// Waits for the next asynchronous notification; throws PgError on timeout.
PgNotify NextNotification(PGconn* conn, Deadline deadline);

// Polls `condition` every 10 ms until it holds (true) or the deadline
// passes (false).
bool PollUntil(const std::function<bool()>& condition, Deadline deadline);

// libpq's last error for `conn`, without the trailing newline.
std::string ErrorText(const PGconn* conn);

}  // namespace pgvalve::test
