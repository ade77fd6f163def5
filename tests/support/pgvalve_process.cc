#include "tests/support/pgvalve_process.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/free_port.h"
#include "tests/support/log_file.h"
#include "tests/support/pg_server.h"
#include "tests/support/subprocess.h"

#ifndef PGVALVE_BINARY_PATH
#error "PGVALVE_BINARY_PATH must be defined by the build (path of the pgvalve binary)"
#endif

namespace pgvalve::test {
namespace {

bool CanConnectUnix(const std::string& path) {
  sockaddr_un address{};
  if (path.size() >= sizeof(address.sun_path)) return false;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

std::string UnixSocketPath(const std::string& dir, uint16_t port) {
  if (dir.empty()) return "";
  return dir + "/.s.PGSQL." + std::to_string(port);
}

// What the sanitizers print when they find something; with
// halt_on_error/abort_on_error the process also dies, but a build without
// those options would only leave these lines behind.
bool IsSanitizerLine(const std::string& line) {
  static constexpr const char* kMarkers[] = {
      "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
      "WARNING: ThreadSanitizer", "SUMMARY: AddressSanitizer", "SUMMARY: UndefinedBehaviorSanitizer"};
  for (const char* marker : kMarkers) {
    if (line.find(marker) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> PgvalveArgs::ToArgv() const {
  std::vector<std::string> argv = {"--upstream", upstream, "--listen",
                                   "127.0.0.1:" + std::to_string(listen_port)};
  if (!unix_socket_dir.empty()) {
    argv.insert(argv.end(), {"--unix-socket-dir", unix_socket_dir});
  }
  if (admin_port != 0) {
    argv.insert(argv.end(), {"--admin-listen", "127.0.0.1:" + std::to_string(admin_port)});
  }
  if (!config_file.empty()) argv.insert(argv.end(), {"--config", config_file});
  if (!log_level.empty()) argv.insert(argv.end(), {"--log-level", log_level});
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

PgvalveArgs StandardPgvalveArgs(const PgServer& upstream, std::string unix_socket_dir) {
  PgvalveArgs args;
  args.upstream = upstream.Upstream();
  args.listen_port = FreeTcpPort();
  do {
    args.admin_port = FreeTcpPort();
  } while (args.admin_port == args.listen_port);
  args.unix_socket_dir = std::move(unix_socket_dir);
  return args;
}

std::string PgvalveProcess::BinaryPath() {
  const char* override_path = std::getenv("PGVALVE_BINARY");
  return override_path && *override_path ? override_path : PGVALVE_BINARY_PATH;
}

PgvalveProcess::PgvalveProcess(const PgvalveArgs& args, std::chrono::milliseconds ready_timeout)
    : PgvalveProcess(BinaryPath(), args.ToArgv(), args.listen_port,
                     UnixSocketPath(args.unix_socket_dir, args.listen_port), ready_timeout) {}

PgvalveProcess::PgvalveProcess(std::string binary, std::vector<std::string> args,
                               uint16_t ready_port, std::string ready_unix_socket,
                               std::chrono::milliseconds ready_timeout)
    : args_(std::move(args)), port_(ready_port), dir_("pgvalve-proc") {
  log_path_ = dir_.path() + "/pgvalve.log";
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), args_.begin(), args_.end());
  {
    // The command line first, so every log says what was run.
    std::ofstream log(log_path_);
    for (const std::string& arg : argv) log << arg << ' ';
    log << "\n";
  }
  SpawnOptions spawn;
  spawn.parent_death_signal = SIGTERM;
  pid_ = SpawnProcess(argv, log_path_, spawn);
  WaitUntilReady(ready_unix_socket, ready_timeout);
}

PgvalveProcess::~PgvalveProcess() { Stop(); }

void PgvalveProcess::WaitUntilReady(const std::string& unix_socket,
                                    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (CanConnectTcp(port_) && (unix_socket.empty() || CanConnectUnix(unix_socket))) return;
    if (!IsRunning()) {
      throw std::runtime_error("pgvalve " + DescribeWaitStatus(*exit_status_) +
                               " before accepting connections; its log:\n" + Log());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      Stop();
      std::string what = "127.0.0.1:" + std::to_string(port_);
      if (!unix_socket.empty()) what += " and " + unix_socket;
      throw std::runtime_error("pgvalve did not accept connections on " + what + " within " +
                               std::to_string(timeout.count()) + " ms; its log:\n" + Log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int PgvalveProcess::Stop(std::chrono::milliseconds grace) {
  if (!exit_status_) {
    const StopOutcome outcome = StopProcess(pid_, SIGTERM, grace);
    exit_status_ = outcome.wait_status;
    stop_escalated_ = outcome.escalated;
  }
  return *exit_status_;
}

std::string PgvalveProcess::StopAndCheck(std::chrono::milliseconds grace) {
  const int status = Stop(grace);
  std::ostringstream problems;
  if (stop_escalated_) {
    problems << "did not exit within " << grace.count() << " ms of SIGTERM and was killed\n";
  } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) {
    // Dying of the SIGTERM we sent is a clean stop too, if a crude one.
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    problems << DescribeWaitStatus(status) << "\n";
  }
  const std::string sanitizer = SanitizerReport();
  if (!sanitizer.empty()) problems << "sanitizer report:\n" << sanitizer;
  if (problems.tellp() == 0) return "";
  return "pgvalve (pid " + std::to_string(pid_) + ") " + problems.str() + "log tail:\n" +
         LogTail();
}

void PgvalveProcess::Signal(int signal) const {
  if (!exit_status_) ::kill(pid_, signal);
}

bool PgvalveProcess::IsRunning() {
  if (exit_status_) return false;
  exit_status_ = test::WaitForExit(pid_, std::chrono::milliseconds(0));
  return !exit_status_;
}

std::optional<int> PgvalveProcess::WaitForExit(std::chrono::milliseconds timeout) {
  if (!exit_status_) exit_status_ = test::WaitForExit(pid_, timeout);
  return exit_status_;
}

std::string PgvalveProcess::Log() const { return ReadWholeFile(log_path_); }

std::string PgvalveProcess::LogTail(size_t max_lines) const {
  return TailOfFile(log_path_, max_lines);
}

std::string PgvalveProcess::SanitizerReport() const {
  std::ifstream in(log_path_);
  std::string report;
  for (std::string line; std::getline(in, line);) {
    if (IsSanitizerLine(line)) report.append(line).append("\n");
  }
  return report;
}

}  // namespace pgvalve::test
