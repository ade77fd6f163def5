#include "cutover_bench_table.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cutover_bench_record.h"

namespace pgvalve::bench {
namespace {

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Why a round counts as failed; empty when it did not.
// A step's column: as wide as its name, at least 9 ("promote", 0.000).
int StepWidth(const char* step) { return std::max(9, static_cast<int>(std::strlen(step))); }

std::string RoundProblem(const Record& round) {
  std::string problem;
  auto add = [&problem](const std::string& what) { problem += (problem.empty() ? "" : "; ") + what; };
  if (round.Get("cutover_outcome") != "completed") {
    add("cutover " + (round.Has("cutover_outcome") ? round.Get("cutover_outcome") : std::string("did not run")));
  }
  if (round.Number("lost") > 0) add(round.Get("lost") + " lost");
  if (round.Number("duplicates") > 0) add(round.Get("duplicates") + " duplicated");
  if (round.Number("stray_on_blue") > 0) add(round.Get("stray_on_blue") + " written to blue after the switch");
  if (!round.Get("problem").empty()) add(round.Get("problem"));
  return problem;
}

}  // namespace

int PrintCutoverTables(std::istream& in) {
  std::vector<Record> rounds;
  std::vector<std::string> modes;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    Record round = Record::Parse(line);
    if (std::find(modes.begin(), modes.end(), round.Get("mode")) == modes.end()) modes.push_back(round.Get("mode"));
    rounds.push_back(std::move(round));
  }
  if (rounds.empty()) {
    std::fprintf(stderr, "cutover_bench: no rounds to tabulate\n");
    return 2;
  }

  std::printf("%-10s %6s %9s %7s %8s %8s %8s %6s %6s %7s %5s %4s %7s %8s %8s %8s %8s %8s %10s\n", "mode", "rounds",
              "completed", "hold_s", "held_p50", "held_p99", "held_max", "closed", "errors", "err/cli", "lost",
              "dup", "txns", "base_p50", "ovl_p50", "ovl_p99", "ovl_max", "conn_p50", "reconn_p50");
  int failed = 0;
  for (const std::string& mode : modes) {
    std::vector<double> hold_s, p50, p99, base_p50, overlap_p50, overlap_p99, connect_p50, reconnect_p50;
    double held_max = 0, overlap_max = 0, errors_max = 0;
    int64_t count = 0, completed = 0, closed = 0, errors = 0, lost = 0, duplicates = 0, transactions = 0;
    bool latency = false;
    for (const Record& round : rounds) {
      if (round.Get("mode") != mode) continue;
      ++count;
      if (round.Get("cutover_outcome") == "completed") ++completed;
      hold_s.push_back(round.Number("cutover_hold_seconds"));
      p50.push_back(round.Number("cutover_held_p50_ms"));
      p99.push_back(round.Number("cutover_held_p99_ms"));
      held_max = std::max(held_max, round.Number("cutover_held_max_ms"));
      closed += static_cast<int64_t>(round.Number("cutover_closed"));
      errors += static_cast<int64_t>(round.Number("errors"));
      errors_max = std::max(errors_max, round.Number("errors_max_per_client"));
      lost += static_cast<int64_t>(round.Number("lost"));
      duplicates += static_cast<int64_t>(round.Number("duplicates"));
      transactions += static_cast<int64_t>(round.Number("transactions"));
      if (round.Has("overlap_p50_ms")) {
        latency = true;
        base_p50.push_back(round.Number("baseline_p50_ms"));
        overlap_p50.push_back(round.Number("overlap_p50_ms"));
        overlap_p99.push_back(round.Number("overlap_p99_ms"));
        overlap_max = std::max(overlap_max, round.Number("overlap_max_ms"));
        connect_p50.push_back(round.Number("first_connect_p50_ms"));
        reconnect_p50.push_back(round.Number("reconnect_p50_ms"));
      }
      if (!RoundProblem(round).empty()) ++failed;
    }
    std::printf("%-10s %6lld %9lld %7.3f %8.1f %8.1f %8.1f %6lld %6lld %7.0f %5lld %4lld %7lld", mode.c_str(),
                static_cast<long long>(count), static_cast<long long>(completed), Median(hold_s), Median(p50),
                Median(p99), held_max, static_cast<long long>(closed), static_cast<long long>(errors), errors_max,
                static_cast<long long>(lost), static_cast<long long>(duplicates),
                static_cast<long long>(transactions));
    if (latency) {
      std::printf(" %8.2f %8.1f %8.1f %8.1f %8.1f %10.1f\n", Median(base_p50), Median(overlap_p50),
                  Median(overlap_p99), overlap_max, Median(connect_p50), Median(reconnect_p50));
    } else {
      std::printf(" %8s %8s %8s %8s %8s %10s\n", "-", "-", "-", "-", "-", "-");
    }
  }

  std::printf("\nper round\n");
  std::printf("%-10s %5s %-9s %6s %6s %7s %8s %8s %8s %6s %5s %-18s %5s %4s %7s %8s %8s %8s %8s %8s %10s  %s\n", "mode",
              "round", "outcome", "wall_s", "hold_s", "new+req", "held_p50", "held_p99", "held_max", "closed", "term",
              "errors", "lost", "dup", "txns", "base_p50", "ovl_p50", "ovl_p99", "ovl_max", "conn_p50", "reconn_p50",
              "problem");
  for (const Record& round : rounds) {
    const std::string held =
        round.Get("cutover_held_new_sessions") + "+" + round.Get("cutover_held_requests");
    const std::string problem = RoundProblem(round);
    std::printf("%-10s %5s %-9s %6.2f %6.3f %7s %8.1f %8.1f %8.1f %6s %5s %-18s %5s %4s %7s", round.Get("mode").c_str(),
                round.Get("round").c_str(), round.Get("cutover_outcome").c_str(), round.Number("cutover_wall_s"),
                round.Number("cutover_hold_seconds"), held.c_str(), round.Number("cutover_held_p50_ms"),
                round.Number("cutover_held_p99_ms"), round.Number("cutover_held_max_ms"),
                round.Get("cutover_closed").c_str(), round.Get("cutover_terminated").c_str(),
                round.Get("error_codes").c_str(), round.Get("lost").c_str(), round.Get("duplicates").c_str(),
                round.Get("transactions").c_str());
    if (round.Has("overlap_p50_ms")) {
      std::printf(" %8.2f %8.1f %8.1f %8.1f %8.1f %10.1f", round.Number("baseline_p50_ms"),
                  round.Number("overlap_p50_ms"), round.Number("overlap_p99_ms"), round.Number("overlap_max_ms"),
                  round.Number("first_connect_p50_ms"), round.Number("reconnect_p50_ms"));
    } else {
      std::printf(" %8s %8s %8s %8s %8s %10s", "-", "-", "-", "-", "-", "-");
    }
    std::printf("  %s\n", problem.empty() ? "-" : problem.c_str());
  }

  std::printf("\nsteps of each CUTOVER (s, from its report)\n");
  constexpr const char* kSteps[] = {"preflight", "lag",            "hold",   "catch_up",
                                    "promote",   "sync_sequences", "switch", "resume"};
  std::printf("%-10s %5s", "mode", "round");
  for (const char* step : kSteps) std::printf(" %*s", StepWidth(step), step);
  std::printf("\n");
  for (const Record& round : rounds) {
    std::printf("%-10s %5s", round.Get("mode").c_str(), round.Get("round").c_str());
    for (const char* step : kSteps) {
      const std::string key = std::string("step_") + step + "_s";
      if (round.Has(key)) {
        std::printf(" %*.3f", StepWidth(step), round.Number(key));
      } else {
        std::printf(" %*s", StepWidth(step), "-");
      }
    }
    std::printf("\n");
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace pgvalve::bench
