#include "tests/e2e/libpq_waits.h"

#include <poll.h>

#include <cerrno>
#include <thread>
#include <vector>

namespace pgvalve::test {
namespace {

void ConsumeInput(PGconn* conn) {
  if (PQconsumeInput(conn) == 0) {
    throw PgError("connection broke while reading: " + ErrorText(conn), "");
  }
}

}  // namespace

bool WaitReadable(PGconn* conn, Deadline deadline) {
  const int socket = PQsocket(conn);
  if (socket < 0) return true;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd fd{socket, POLLIN, 0};
    const int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) {
      throw PgError("poll on the libpq socket failed: errno " + std::to_string(errno), "");
    }
  }
}

PgResult NextResult(PGconn* conn, Deadline deadline, const std::string& what) {
  // In blocking mode PQgetResult flushes what is still queued; a pipeline
  // sent in blocking mode is already flushed by PQpipelineSync.
  while (PQisBusy(conn)) {
    if (!WaitReadable(conn, deadline)) {
      throw PgError("timed out waiting for " + what + " (hang guard)", "");
    }
    ConsumeInput(conn);
  }
  return PgResult(PQgetResult(conn));
}

std::vector<PgResult> SendAndCollect(PGconn* conn, const std::string& sql, Deadline deadline) {
  if (PQsendQuery(conn, sql.c_str()) == 0) {
    throw PgError("PQsendQuery failed: " + ErrorText(conn), "");
  }
  std::vector<PgResult> results;
  while (PgResult result = NextResult(conn, deadline, "the results of \"" + sql + "\"")) {
    results.push_back(std::move(result));
  }
  return results;
}

PgNotify NextNotification(PGconn* conn, Deadline deadline) {
  while (true) {
    // A notification may already sit in libpq's buffer, read along with an
    // earlier result.
    ConsumeInput(conn);
    if (PGnotify* notify = PQnotifies(conn)) return PgNotify(notify);
    if (!WaitReadable(conn, deadline)) {
      throw PgError("timed out waiting for a notification (hang guard)", "");
    }
  }
}

bool PollUntil(const std::function<bool()>& condition, Deadline deadline) {
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::string ErrorText(const PGconn* conn) {
  std::string text = PQerrorMessage(conn);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

}  // namespace pgvalve::test
