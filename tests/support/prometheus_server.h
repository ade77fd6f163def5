#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace pgvalve::test {

// A real Prometheus (Debian's /usr/bin/prometheus) scraping one target
// every second, to check that what pgvalve exposes is what a Prometheus
// stores. Its config, TSDB and log live in a temp dir of its own; it
// listens on a free port of 127.0.0.1.
//
// Like PgServer it gets a parent-death signal, so create it on a thread
// that outlives it, normally the main thread.
class PrometheusServer {
 public:
  struct Options {
    // The target scraped, on 127.0.0.1, as job "pgvalve".
    uint16_t target_port = 0;
    std::string metrics_path = "/metrics";
    // Set: the scrape sends them with HTTP basic authentication.
    std::optional<BasicCredentials> credentials;
    std::chrono::milliseconds ready_timeout{30'000};
  };

  // One element of an instant vector: the series' labels (__name__
  // included) and its value as Prometheus prints it ("25", "NaN").
  struct Sample {
    std::map<std::string, std::string> labels;
    std::string value;
  };

  // Debian's package; scripts/install-deps installs it.
  static constexpr const char* kBinaryPath = "/usr/bin/prometheus";

  // Writes the config, starts Prometheus and returns once GET /-/ready
  // answers 200. Throws std::runtime_error with the log when it exits or
  // is not ready within options.ready_timeout.
  explicit PrometheusServer(Options options);
  // Stops the process it started (SIGTERM, then SIGKILL) and deletes its
  // files.
  ~PrometheusServer();

  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  // Evaluates `promql` now (GET /api/v1/query) and returns the instant
  // vector. Throws std::runtime_error with Prometheus's answer when the
  // query fails or its result is not a vector.
  std::vector<Sample> Query(std::string_view promql) const;

  // The value of the one sample `promql` returns, or nothing when it
  // returns none. Throws when it returns more than one.
  std::optional<std::string> QueryOne(std::string_view promql) const;

  // Polls QueryOne(promql) until it returns `value` or `timeout` passes,
  // and returns what it last returned ("<no sample>" for nothing): a scrape
  // lands within a scrape interval or so, at a time of Prometheus's choice.
  std::string WaitForValue(std::string_view promql, std::string_view value,
                           std::chrono::milliseconds timeout) const;

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // The last lines of Prometheus's log, for failure messages.
  std::string LogTail(size_t max_lines = 40) const;

 private:
  void WriteConfig() const;
  void WaitUntilReady();

  Options options_;
  TempDir dir_;
  std::string config_path_;
  std::string log_path_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace pgvalve::test
