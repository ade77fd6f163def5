#pragma once
// systemd's readiness protocol (sd_notify), spoken without libsystemd: one
// datagram per state change to the unix socket named by $NOTIFY_SOCKET,
// which systemd sets for a Type=notify service. READY=1 once every listener
// is bound, RELOADING=1 around a reload, STOPPING=1 when a shutdown begins.
// Without $NOTIFY_SOCKET (not under systemd) it does nothing.

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace pgvalve::proxy {

class ServiceNotifier {
 public:
  // Reads $NOTIFY_SOCKET.
  ServiceNotifier();
  // For tests: `socket_path` as $NOTIFY_SOCKET would give it ("@name" for
  // the abstract namespace).
  explicit ServiceNotifier(std::optional<std::string> socket_path) : socket_path_(std::move(socket_path)) {}

  bool enabled() const { return socket_path_.has_value(); }

  void Ready(std::string_view status);
  // Before a reload; Ready again once it is done (or failed).
  void Reloading();
  void Stopping(std::string_view status);

  // Sends `state` ("KEY=value" lines); a failure is returned, never thrown.
  absl::Status Send(std::string_view state) const;

 private:
  std::optional<std::string> socket_path_;
};

}  // namespace pgvalve::proxy
