#include "proxy/service_notifier.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "proxy/status_text.h"
#include "spdlog/spdlog.h"

namespace pgvalve::proxy {
namespace {

std::optional<std::string> SocketFromEnvironment() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || *path == '\0') return std::nullopt;
  return std::string(path);
}

// CLOCK_MONOTONIC in microseconds, as RELOADING=1 wants it beside.
uint64_t MonotonicMicros() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000 + static_cast<uint64_t>(now.tv_nsec) / 1'000;
}

// Status text on one line: a line feed would start another assignment.
std::string OneLine(std::string_view text) {
  std::string line(text);
  for (char& c : line) {
    if (c == '\n') c = ' ';
  }
  return line;
}

}  // namespace

ServiceNotifier::ServiceNotifier() : socket_path_(SocketFromEnvironment()) {}

void ServiceNotifier::Ready(std::string_view status) {
  if (!enabled()) return;
  if (absl::Status sent = Send(absl::StrCat("READY=1\nSTATUS=", OneLine(status))); !sent.ok()) {
    spdlog::warn("could not tell systemd pgvalve is ready: {}", StatusText(sent));
  }
}

void ServiceNotifier::Reloading() {
  if (!enabled()) return;
  if (absl::Status sent = Send(absl::StrCat("RELOADING=1\nMONOTONIC_USEC=", MonotonicMicros())); !sent.ok()) {
    spdlog::warn("could not tell systemd pgvalve is reloading: {}", StatusText(sent));
  }
}

void ServiceNotifier::Stopping(std::string_view status) {
  if (!enabled()) return;
  if (absl::Status sent = Send(absl::StrCat("STOPPING=1\nSTATUS=", OneLine(status))); !sent.ok()) {
    spdlog::warn("could not tell systemd pgvalve is stopping: {}", StatusText(sent));
  }
}

absl::Status ServiceNotifier::Send(std::string_view state) const {
  if (!socket_path_) return absl::OkStatus();
  const std::string& path = *socket_path_;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path) || (path[0] != '/' && path[0] != '@')) {
    return absl::InvalidArgumentError(absl::StrCat("NOTIFY_SOCKET \"", path, "\" is not a socket path"));
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  // "@name": the abstract namespace, whose names start with a NUL byte.
  if (path[0] == '@') address.sun_path[0] = '\0';

  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  const ssize_t sent = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                              reinterpret_cast<const sockaddr*>(&address), length);
  const int error = errno;
  close(fd);
  if (sent < 0) return absl::UnavailableError(absl::StrCat("sendto ", path, ": ", std::strerror(error)));
  return absl::OkStatus();
}

}  // namespace pgvalve::proxy
