#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace pgvalve::test {

class PgServer;

// pgvalve's command line, built from fields so tests name what they set.
struct PgvalveArgs {
  std::string upstream;         // HOST:PORT
  uint16_t listen_port = 0;     // on 127.0.0.1
  std::string unix_socket_dir;  // empty: no --unix-socket-dir
  uint16_t admin_port = 0;      // 0: no --admin-listen
  std::string config_file;      // empty: no --config
  std::string log_level;        // empty: pgvalve's default
  std::vector<std::string> extra;

  std::vector<std::string> ToArgv() const;
};

// Args for a pgvalve in front of `upstream`, on fresh free listen and admin
// ports, with a unix socket in `unix_socket_dir` when it is not empty.
PgvalveArgs StandardPgvalveArgs(const PgServer& upstream, std::string unix_socket_dir = "");

// A pgvalve process started by a test. Its stdout and stderr go to a log
// file in a temp dir of its own. Gets SIGTERM if the test binary dies.
class PgvalveProcess {
 public:
  static constexpr std::chrono::milliseconds kReadyTimeout{10'000};
  static constexpr std::chrono::milliseconds kStopGrace{5'000};

  // The binary under test: $PGVALVE_BINARY if set, otherwise the pgvalve
  // target of this build tree.
  static std::string BinaryPath();

  // Starts BinaryPath() with `args` and waits until its listen port (and
  // unix socket, if any) accepts connections. Throws std::runtime_error
  // with the log when it exits or is not ready within `ready_timeout`.
  explicit PgvalveProcess(const PgvalveArgs& args,
                          std::chrono::milliseconds ready_timeout = kReadyTimeout);

  // Starts any `binary` with raw `args` and waits until 127.0.0.1:
  // `ready_port` accepts connections, then `ready_unix_socket` (a path) if
  // not empty. For command lines PgvalveArgs cannot express.
  PgvalveProcess(std::string binary, std::vector<std::string> args, uint16_t ready_port,
                 std::string ready_unix_socket = "",
                 std::chrono::milliseconds ready_timeout = kReadyTimeout);

  ~PgvalveProcess();
  PgvalveProcess(const PgvalveProcess&) = delete;
  PgvalveProcess& operator=(const PgvalveProcess&) = delete;

  // Sends SIGTERM, waits up to `grace`, then SIGKILL. Returns the wait
  // status; later calls return the same one.
  int Stop(std::chrono::milliseconds grace = kStopGrace);

  // Stops the process and returns "" if it shut down cleanly: exit status
  // 0 (or death by our SIGTERM) within the grace period and no sanitizer
  // report in its log. Otherwise describes what went wrong, with the log
  // tail. Use it to fail a test: EXPECT_EQ(process.StopAndCheck(), "").
  std::string StopAndCheck(std::chrono::milliseconds grace = kStopGrace);

  // Sends `signal` (e.g. SIGHUP to reload) without waiting.
  void Signal(int signal) const;
  // False once the process has exited; reaps it then.
  bool IsRunning();
  // Waits for the process to exit by itself; its wait status, or nothing on
  // timeout.
  std::optional<int> WaitForExit(std::chrono::milliseconds timeout);

  std::string Log() const;
  // Last `max_lines` lines of the log.
  std::string LogTail(size_t max_lines = 60) const;
  // Lines of the log written by ASan, LSan or UBSan; "" when none.
  std::string SanitizerReport() const;

  pid_t pid() const { return pid_; }
  // The ready port: pgvalve's client listen port.
  uint16_t port() const { return port_; }
  const std::string& log_path() const { return log_path_; }
  const std::vector<std::string>& args() const { return args_; }
  // The wait status once the process has exited.
  std::optional<int> exit_status() const { return exit_status_; }

 private:
  void WaitUntilReady(const std::string& unix_socket, std::chrono::milliseconds timeout);

  std::vector<std::string> args_;
  uint16_t port_;
  TempDir dir_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  bool stop_escalated_ = false;
};

}  // namespace pgvalve::test
