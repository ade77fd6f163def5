#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvalve::test {

// The identity a child runs as. PostgreSQL and PgBouncer refuse to run as
// root, so when the tests run as root their servers run as `postgres`.
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
};

// Nothing when not root; as root, the `postgres` user Debian's
// postgresql-15 creates, for servers that refuse root or should not have
// it (PostgreSQL, etcd). Throws, naming `who`, when root has no such user.
std::optional<RunAs> PostgresUserWhenRoot(std::string_view who);
// The user a server runs as, to hand its files to; nothing for ourselves.
inline std::optional<uid_t> UidOf(const std::optional<RunAs>& run_as) {
  if (!run_as) return std::nullopt;
  return run_as->uid;
}

struct SpawnOptions {
  // Unset: run as the current user.
  std::optional<RunAs> run_as;
  // PostgreSQL's tools fail when started in a directory they cannot read
  // (as /root is to postgres), so children start somewhere harmless.
  std::string working_dir = "/";
  // Signal delivered to the child when the thread that spawned it dies
  // (PR_SET_PDEATHSIG). Servers get one so that a crashed or timed-out test
  // binary does not leave them running. 0: none.
  int parent_death_signal = 0;
};

// Outcome of a command run to completion.
struct CommandResult {
  int wait_status = 0;
  std::string output;  // stdout and stderr, interleaved as written

  bool Succeeded() const;
};

// "exited with status 3", "killed by signal 9 (Killed)".
std::string DescribeWaitStatus(int wait_status);

// Runs `argv` (argv[0] is looked up in PATH when it has no slash) with
// stdin from /dev/null and waits for it, capturing its output. No shell is
// involved, so arguments need no quoting. Throws std::system_error when the
// process cannot be created; a program that cannot be executed shows up as
// exit status 127 with the reason in `output`.
CommandResult RunCommand(const std::vector<std::string>& argv, const SpawnOptions& options = {});

// Starts `argv` without waiting, its stdout and stderr appended to
// `output_path`, and returns its pid. The caller must reap it (WaitForExit
// or StopProcess).
pid_t SpawnProcess(const std::vector<std::string>& argv, const std::string& output_path,
                   const SpawnOptions& options = {});

// Waits up to `timeout` for child `pid` to exit and returns its wait
// status, or nothing if it is still running. A zero timeout just checks.
std::optional<int> WaitForExit(pid_t pid, std::chrono::milliseconds timeout);

struct StopOutcome {
  int wait_status = 0;
  // True when the child ignored `signal` for the whole grace period and had
  // to be killed with SIGKILL.
  bool escalated = false;
};

// Sends `signal` to child `pid`, waits up to `grace` for it to exit, then
// sends SIGKILL, and reaps it.
StopOutcome StopProcess(pid_t pid, int signal, std::chrono::milliseconds grace);

}  // namespace pgvalve::test
