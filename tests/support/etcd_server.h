#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace pgvalve::test {

// A real one-member etcd (Debian's etcd-server) on free ports of
// 127.0.0.1, its data and log in a temp dir of its own, run as the
// postgres user when the tests run as root. Stop and Start keep the data
// and the ports, so a test can take etcd away and bring it back.
//
// Like PgServer it gets a parent-death signal, so create it on a thread
// that outlives it, normally the main thread.
class EtcdServer {
 public:
  // Debian's package; scripts/install-deps installs it.
  static constexpr const char* kBinaryPath = "/usr/bin/etcd";
  static constexpr std::chrono::milliseconds kReadyTimeout{30'000};

  // etcd serving its clients over TLS (https) with this certificate; with
  // a client CA, it asks every client for a certificate that CA signed
  // (--client-cert-auth).
  struct Tls {
    std::string certificate_pem;
    std::string key_pem;
    std::string client_ca_pem;  // empty: no client certificate asked for
  };

  // Starts etcd and returns once GET /health (on its plain metrics port)
  // says it is healthy. Throws std::runtime_error with the log when it
  // exits or is not ready in time.
  explicit EtcdServer(std::optional<Tls> tls = std::nullopt);
  ~EtcdServer();
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  void Start();
  // Turns etcd's authentication on, with a root user (role root) of this
  // password: from then on every call needs a user's token. Throws
  // std::runtime_error naming the step etcd refused. Plain etcd only.
  void EnableAuthentication(const std::string& root_password);
  // SIGTERM, then SIGKILL after a grace.
  void Stop();
  bool IsRunning();

  uint16_t client_port() const { return client_port_; }
  // "http://127.0.0.1:PORT" (https with TLS), as etcd's clients name an
  // endpoint.
  std::string endpoint() const;
  pid_t pid() const { return pid_; }
  std::string LogTail(size_t max_lines = 40) const;

 private:
  void WaitUntilReady();

  std::optional<RunAs> run_as_;
  std::optional<Tls> tls_;
  TempDir dir_;
  std::string log_path_;
  uint16_t client_port_ = 0;
  uint16_t peer_port_ = 0;
  // Plain HTTP /health, whatever the client port speaks.
  uint16_t metrics_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace pgvalve::test
