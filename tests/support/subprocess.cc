#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

namespace pgvalve::test {

std::optional<RunAs> PostgresUserWhenRoot(std::string_view who) {
  if (::geteuid() != 0) return std::nullopt;
  const passwd* entry = ::getpwnam("postgres");
  if (entry == nullptr) {
    throw std::runtime_error(std::string(who) +
                             ": running as root needs a 'postgres' user to run the server as "
                             "(scripts/install-deps installs postgresql-15, which creates it)");
  }
  return RunAs{entry->pw_uid, entry->pw_gid};
}
namespace {

[[noreturn]] void ThrowErrno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// Writes a message from the forked child, where only async-signal-safe
// calls are allowed: no allocation, no stdio.
void ChildSay(const char* a, const char* b) {
  (void)!::write(STDERR_FILENO, a, std::strlen(a));
  (void)!::write(STDERR_FILENO, b, std::strlen(b));
  (void)!::write(STDERR_FILENO, "\n", 1);
}

// Everything the child needs is prepared before fork(): the child only
// makes system calls and then execs.
pid_t ForkExec(const std::vector<std::string>& argv, int output_fd, const SpawnOptions& options) {
  if (argv.empty()) throw std::invalid_argument("ForkExec: empty argv");
  std::vector<char*> raw_argv;
  raw_argv.reserve(argv.size() + 1);
  for (const std::string& arg : argv) raw_argv.push_back(const_cast<char*>(arg.c_str()));
  raw_argv.push_back(nullptr);

  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) ThrowErrno("open /dev/null");
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(null_fd);
    ThrowErrno("fork");
  }
  if (pid > 0) {
    ::close(null_fd);
    return pid;
  }

  // Child. dup2 clears close-on-exec on the targets, so only 0, 1 and 2
  // survive exec; every other descriptor here is opened with O_CLOEXEC.
  ::dup2(null_fd, STDIN_FILENO);
  ::dup2(output_fd, STDOUT_FILENO);
  ::dup2(output_fd, STDERR_FILENO);
  if (options.run_as) {
    const gid_t gid = options.run_as->gid;
    if (::setgroups(1, &gid) != 0 || ::setgid(gid) != 0 || ::setuid(options.run_as->uid) != 0) {
      ChildSay("cannot switch user: ", std::strerror(errno));
      ::_exit(127);
    }
  }
  // After setuid: a credential change clears the parent-death signal.
  if (options.parent_death_signal != 0) {
    ::prctl(PR_SET_PDEATHSIG, options.parent_death_signal);
    if (::getppid() != parent) ::_exit(127);  // The parent already died.
  }
  if (::chdir(options.working_dir.c_str()) != 0) {
    ChildSay("cannot chdir: ", std::strerror(errno));
    ::_exit(127);
  }
  ::execvp(raw_argv[0], raw_argv.data());
  ChildSay(raw_argv[0], std::strerror(errno));
  ::_exit(127);
}

}  // namespace

bool CommandResult::Succeeded() const {
  return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
}

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  }
  if (WIFSIGNALED(wait_status)) {
    const int signal = WTERMSIG(wait_status);
    const char* name = ::strsignal(signal);
    return "killed by signal " + std::to_string(signal) + " (" + (name ? name : "?") + ")";
  }
  return "wait status " + std::to_string(wait_status);
}

CommandResult RunCommand(const std::vector<std::string>& argv, const SpawnOptions& options) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) ThrowErrno("pipe2");
  pid_t pid;
  try {
    pid = ForkExec(argv, pipe_fds[1], options);
  } catch (...) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    throw;
  }
  ::close(pipe_fds[1]);

  // Reads until every holder of the write end is gone. Commands that leave a
  // daemon behind must point its output elsewhere, or this never ends.
  CommandResult result;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(pipe_fds[0], buffer, sizeof(buffer));
    if (n > 0) {
      result.output.append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(pipe_fds[0]);
  while (::waitpid(pid, &result.wait_status, 0) < 0) {
    if (errno != EINTR) ThrowErrno("waitpid");
  }
  return result;
}

pid_t SpawnProcess(const std::vector<std::string>& argv, const std::string& output_path,
                   const SpawnOptions& options) {
  const int fd = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) ThrowErrno("open " + output_path);
  pid_t pid;
  try {
    pid = ForkExec(argv, fd, options);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return pid;
}

std::optional<int> WaitForExit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t reaped = ::waitpid(pid, &status, WNOHANG);
    if (reaped == pid) return status;
    if (reaped < 0 && errno != EINTR) ThrowErrno("waitpid " + std::to_string(pid));
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

StopOutcome StopProcess(pid_t pid, int signal, std::chrono::milliseconds grace) {
  ::kill(pid, signal);
  if (std::optional<int> status = WaitForExit(pid, grace)) {
    return {*status, false};
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return {status, true};
}

}  // namespace pgvalve::test
