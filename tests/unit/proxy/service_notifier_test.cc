// sd_notify without libsystemd: the datagram reaches a socket in the
// abstract namespace ("@name") as well as one on the file system, and a
// $NOTIFY_SOCKET that names neither is an error, not a crash.

#include "proxy/service_notifier.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <string>

#include "gtest/gtest.h"

namespace pgvalve::proxy {
namespace {

TEST(ServiceNotifierTest, SendsToAnAbstractSocket) {
  const std::string name = "pgvalve-notify-test-" + std::to_string(getpid());
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  // The abstract namespace: a NUL byte, then the name, no terminator.
  std::copy(name.begin(), name.end(), address.sun_path + 1);
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&address), length), 0);

  ServiceNotifier notifier("@" + name);
  ASSERT_TRUE(notifier.enabled());
  notifier.Ready("line one\nline two");
  std::array<char, 256> message;
  const ssize_t received = recv(fd, message.data(), message.size(), MSG_DONTWAIT);
  close(fd);
  ASSERT_GT(received, 0);
  EXPECT_EQ(std::string(message.data(), static_cast<size_t>(received)), "READY=1\nSTATUS=line one line two")
      << "the status stays on one line";
}

TEST(ServiceNotifierTest, ARelativePathIsRefused) {
  ServiceNotifier notifier(std::string("not/a/socket"));
  EXPECT_EQ(notifier.Send("READY=1").code(), absl::StatusCode::kInvalidArgument);
}

TEST(ServiceNotifierTest, WithoutASocketItDoesNothing) {
  ServiceNotifier notifier(std::nullopt);
  EXPECT_FALSE(notifier.enabled());
  EXPECT_TRUE(notifier.Send("READY=1").ok());
}

}  // namespace
}  // namespace pgvalve::proxy
