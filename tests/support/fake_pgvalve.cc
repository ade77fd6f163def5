// A stand-in for pgvalve used only by support_self_test: it accepts
// pgvalve's command line and relays bytes to the upstream unchanged, so the
// harness can be tested without depending on the proxy under test.
// Test-only flags make it misbehave on purpose:
//   --fake-say TEXT         print TEXT to stderr, keep running
//   --fake-fail-with TEXT   print TEXT to stderr, exit 3 before listening
//   --fake-ignore-sigterm   ignore SIGTERM (only SIGKILL stops it)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

int signal_pipe[2];

void OnSigterm(int) { (void)!::write(signal_pipe[1], "x", 1); }

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fake_pgvalve: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(2);
}

sockaddr_in ParseHostPort(const std::string& host_port) {
  const size_t colon = host_port.rfind(':');
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(std::stoi(host_port.substr(colon + 1))));
  if (::inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &address.sin_addr) != 1) {
    Die("bad address " + host_port);
  }
  return address;
}

int ListenTcp(const std::string& host_port) {
  const sockaddr_in address = ParseHostPort(host_port);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(fd, 128) != 0) {
    Die("listen on " + host_port);
  }
  return fd;
}

int ListenUnix(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
  ::unlink(path.c_str());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(fd, 128) != 0) {
    Die("listen on " + path);
  }
  return fd;
}

bool WriteAll(int fd, const char* data, ssize_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, static_cast<size_t>(size));
    if (n <= 0) return false;
    data += n;
    size -= n;
  }
  return true;
}

// Copies both ways until either side closes.
void Relay(int client, sockaddr_in upstream_address) {
  const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(upstream, reinterpret_cast<const sockaddr*>(&upstream_address),
                sizeof(upstream_address)) == 0) {
    pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    char buffer[65536];
    for (bool open = true; open;) {
      if (::poll(fds, 2, -1) < 0) break;
      for (int i = 0; i < 2 && open; ++i) {
        if (fds[i].revents == 0) continue;
        const ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
        open = n > 0 && WriteAll(fds[1 - i].fd, buffer, n);
      }
    }
  }
  ::close(upstream);
  ::close(client);
}

}  // namespace

int main(int argc, char** argv) {
  std::string upstream, listen, socket_dir, admin;
  bool ignore_sigterm = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const std::string value = i + 1 < argc ? argv[i + 1] : "";
    if (flag == "--fake-ignore-sigterm") {
      ignore_sigterm = true;
      continue;
    }
    ++i;
    if (flag == "--upstream") upstream = value;
    else if (flag == "--listen") listen = value;
    else if (flag == "--unix-socket-dir") socket_dir = value;
    else if (flag == "--admin-listen") admin = value;
    else if (flag == "--fake-say") std::fprintf(stderr, "%s\n", value.c_str());
    else if (flag == "--fake-fail-with") {
      std::fprintf(stderr, "%s\n", value.c_str());
      return 3;
    }
  }
  std::fprintf(stderr, "fake_pgvalve: relaying %s -> %s\n", listen.c_str(), upstream.c_str());

  if (::pipe(signal_pipe) != 0) Die("pipe");
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGTERM, ignore_sigterm ? SIG_IGN : OnSigterm);

  const sockaddr_in upstream_address = ParseHostPort(upstream);
  std::vector<pollfd> fds = {{signal_pipe[0], POLLIN, 0}, {ListenTcp(listen), POLLIN, 0}};
  const size_t admin_index = admin.empty() ? 0 : fds.size();
  if (!admin.empty()) fds.push_back({ListenTcp(admin), POLLIN, 0});
  std::string socket_path;
  if (!socket_dir.empty()) {
    socket_path = socket_dir + "/.s.PGSQL." + listen.substr(listen.rfind(':') + 1);
    fds.push_back({ListenUnix(socket_path), POLLIN, 0});
  }

  for (;;) {
    if (::poll(fds.data(), fds.size(), -1) < 0) continue;
    if (fds[0].revents != 0) break;
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      const int client = ::accept4(fds[i].fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      if (i == admin_index) {
        ::close(client);  // The admin listener only has to exist.
      } else {
        std::thread(Relay, client, upstream_address).detach();
      }
    }
  }
  if (!socket_path.empty()) ::unlink(socket_path.c_str());
  std::fprintf(stderr, "fake_pgvalve: stopping on SIGTERM\n");
  return 0;
}
