#include "tests/support/prometheus_server.h"

#include <csignal>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include "tests/support/free_port.h"
#include "tests/support/json_value.h"
#include "tests/support/log_file.h"
#include "tests/support/subprocess.h"

namespace pgvalve::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds kStopGrace{10'000};
constexpr milliseconds kQueryPollInterval{100};
// Another process can take the free port before Prometheus binds it; a few
// fresh ports make that race harmless.
constexpr int kStartAttempts = 3;

// A YAML double-quoted scalar.
std::string YamlString(std::string_view text) {
  std::string quoted = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
  quoted.push_back('"');
  return quoted;
}

PrometheusServer::Sample SampleOf(const JsonValue& element) {
  PrometheusServer::Sample sample;
  for (const auto& [label, value] : element.At("metric").AsObject()) {
    sample.labels.emplace(label, value.AsString());
  }
  // "value": [<unix time>, "<value>"]
  const std::vector<JsonValue>& point = element.At("value").AsArray();
  if (point.size() != 2) throw std::runtime_error("a sample's value is not [time, value]");
  sample.value = point[1].AsString();
  return sample;
}

}  // namespace

PrometheusServer::PrometheusServer(Options options)
    : options_(std::move(options)), dir_("pgvalve-prometheus") {
  config_path_ = dir_.path() + "/prometheus.yml";
  log_path_ = dir_.path() + "/prometheus.log";
  WriteConfig();
  for (int attempt = 1;; ++attempt) {
    port_ = FreeTcpPort();
    SpawnOptions spawn;
    spawn.parent_death_signal = SIGKILL;
    pid_ = SpawnProcess({kBinaryPath, "--config.file=" + config_path_,
                         "--storage.tsdb.path=" + dir_.path() + "/data",
                         "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
                        log_path_, spawn);
    try {
      WaitUntilReady();
      return;
    } catch (const std::runtime_error&) {
      // pid_ is -1 when Prometheus already exited; kill(-1) would signal
      // every process we may signal.
      if (pid_ > 0) StopProcess(pid_, SIGKILL, kStopGrace);
      pid_ = -1;
      const bool port_taken = ReadWholeFile(log_path_).find("address already in use") !=
                              std::string::npos;
      if (!port_taken || attempt == kStartAttempts) throw;
    }
  }
}

PrometheusServer::~PrometheusServer() {
  if (pid_ > 0) StopProcess(pid_, SIGTERM, kStopGrace);
}

void PrometheusServer::WriteConfig() const {
  std::ostringstream yaml;
  // scrape_timeout may not exceed the interval.
  yaml << "global:\n"
       << "  scrape_interval: 1s\n"
       << "  scrape_timeout: 1s\n"
       << "  evaluation_interval: 1s\n"
       << "scrape_configs:\n"
       << "  - job_name: pgvalve\n"
       << "    metrics_path: " << YamlString(options_.metrics_path) << "\n";
  if (options_.credentials) {
    yaml << "    basic_auth:\n"
         << "      username: " << YamlString(options_.credentials->user) << "\n"
         << "      password: " << YamlString(options_.credentials->password) << "\n";
  }
  yaml << "    static_configs:\n"
       << "      - targets: [\"127.0.0.1:" << options_.target_port << "\"]\n";
  std::ofstream out(config_path_, std::ios::trunc);
  out << yaml.str();
  if (!out) throw std::runtime_error("cannot write " + config_path_);
}

void PrometheusServer::WaitUntilReady() {
  WaitForHttpReady(
      "prometheus", pid_, port_, "/-/ready", [](const HttpResponse& response) { return response.status == 200; },
      options_.ready_timeout, [this] { return LogTail(); });
}

std::vector<PrometheusServer::Sample> PrometheusServer::Query(std::string_view promql) const {
  const HttpResponse response = HttpGet(port_, "/api/v1/query?query=" + PercentEncode(promql));
  const std::string context = "query " + std::string(promql) + " answered " + response.ToString();
  try {
    const JsonValue answer = JsonValue::Parse(response.body);
    if (answer.At("status").AsString() != "success") throw std::runtime_error("status not success");
    const JsonValue& data = answer.At("data");
    if (data.At("resultType").AsString() != "vector") {
      throw std::runtime_error("result is not an instant vector");
    }
    std::vector<Sample> samples;
    for (const JsonValue& element : data.At("result").AsArray()) {
      samples.push_back(SampleOf(element));
    }
    return samples;
  } catch (const std::runtime_error& error) {
    throw std::runtime_error(std::string(error.what()) + ": " + context);
  }
}

std::optional<std::string> PrometheusServer::QueryOne(std::string_view promql) const {
  const std::vector<Sample> samples = Query(promql);
  if (samples.empty()) return std::nullopt;
  if (samples.size() > 1) {
    throw std::runtime_error("query " + std::string(promql) + " returned " +
                             std::to_string(samples.size()) + " samples, expected at most one");
  }
  return samples.front().value;
}

std::string PrometheusServer::WaitForValue(std::string_view promql, std::string_view value,
                                           milliseconds timeout) const {
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    std::string seen = QueryOne(promql).value_or("<no sample>");
    if (seen == value || steady_clock::now() >= deadline) return seen;
    std::this_thread::sleep_for(kQueryPollInterval);
  }
}

std::string PrometheusServer::LogTail(size_t max_lines) const {
  return TailOfFile(log_path_, max_lines);
}

}  // namespace pgvalve::test
