#include "tests/support/etcd_server.h"

#include <csignal>
#include <stdexcept>

#include "tests/support/free_port.h"
#include "tests/support/http_client.h"
#include "tests/support/log_file.h"
#include "tests/support/test_certificates.h"

namespace pgvalve::test {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kStopGrace{10'000};

}  // namespace

EtcdServer::EtcdServer(std::optional<Tls> tls)
    : run_as_(PostgresUserWhenRoot("EtcdServer")), tls_(std::move(tls)), dir_("pgvalve-etcd", UidOf(run_as_)) {
  log_path_ = dir_.path() + "/etcd.log";
  client_port_ = FreeTcpPort();
  peer_port_ = FreeTcpPort();
  metrics_port_ = FreeTcpPort();
  if (tls_) {
    // Readable by etcd alone, which runs as the postgres user.
    const int uid = run_as_ ? static_cast<int>(run_as_->uid) : -1;
    const int gid = run_as_ ? static_cast<int>(run_as_->gid) : -1;
    WriteSecretFile(dir_.path() + "/server.crt", tls_->certificate_pem, 0644, uid, gid);
    WriteSecretFile(dir_.path() + "/server.key", tls_->key_pem, 0600, uid, gid);
    if (!tls_->client_ca_pem.empty()) {
      WriteSecretFile(dir_.path() + "/client-ca.crt", tls_->client_ca_pem, 0644, uid, gid);
    }
  }
  Start();
}

EtcdServer::~EtcdServer() {
  if (pid_ > 0) StopProcess(pid_, SIGTERM, kStopGrace);
}

std::string EtcdServer::endpoint() const {
  return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(client_port_);
}

void EtcdServer::Start() {
  if (pid_ > 0) return;
  const std::string client_url = endpoint();
  const std::string peer_url = "http://127.0.0.1:" + std::to_string(peer_port_);
  SpawnOptions spawn;
  spawn.run_as = run_as_;
  spawn.parent_death_signal = SIGKILL;
  std::vector<std::string> argv = {
      kBinaryPath, "--name", "test", "--data-dir", dir_.path() + "/data", "--listen-client-urls", client_url,
      "--advertise-client-urls", client_url, "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls",
      peer_url, "--initial-cluster", "test=" + peer_url, "--listen-metrics-urls",
      "http://127.0.0.1:" + std::to_string(metrics_port_), "--log-outputs", "stderr"};
  if (tls_) {
    argv.insert(argv.end(),
                {"--cert-file", dir_.path() + "/server.crt", "--key-file", dir_.path() + "/server.key"});
    if (!tls_->client_ca_pem.empty()) {
      argv.insert(argv.end(), {"--client-cert-auth", "--trusted-ca-file", dir_.path() + "/client-ca.crt"});
    }
  }
  pid_ = SpawnProcess(argv, log_path_, spawn);
  WaitUntilReady();
}

void EtcdServer::EnableAuthentication(const std::string& root_password) {
  // The gateway's JSON, as etcdctl's user add, user grant-role and auth
  // enable would send it.
  const std::pair<std::string, std::string> steps[] = {
      {"/v3/auth/role/add", R"({"name":"root"})"},
      {"/v3/auth/user/add", R"({"name":"root","password":")" + root_password + R"("})"},
      {"/v3/auth/user/grant", R"({"user":"root","role":"root"})"},
      {"/v3/auth/enable", "{}"},
  };
  for (const auto& [target, body] : steps) {
    const HttpResponse response =
        SendHttpRequest({.method = "POST", .port = client_port_, .target = target, .body = body});
    if (response.status != 200) {
      throw std::runtime_error("etcd refused " + target + ": " + response.ToString());
    }
  }
}

void EtcdServer::Stop() {
  if (pid_ <= 0) return;
  StopProcess(pid_, SIGTERM, kStopGrace);
  pid_ = -1;
}

bool EtcdServer::IsRunning() {
  if (pid_ <= 0) return false;
  if (WaitForExit(pid_, milliseconds(0))) pid_ = -1;
  return pid_ > 0;
}

void EtcdServer::WaitUntilReady() {
  WaitForHttpReady(
      "etcd", pid_, metrics_port_, "/health",
      [](const HttpResponse& response) {
        return response.status == 200 && response.body.find("\"true\"") != std::string::npos;
      },
      kReadyTimeout, [this] { return LogTail(); });
}

std::string EtcdServer::LogTail(size_t max_lines) const { return TailOfFile(log_path_, max_lines); }

}  // namespace pgvalve::test
