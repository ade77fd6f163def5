// Runs the micro-benchmarks, then stops the in-process proxy and scripted
// server that the relay benchmarks started on first use.

#include <benchmark/benchmark.h>

namespace pgvalve::bench {
void StopRelayEnvironment();
}

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  pgvalve::bench::StopRelayEnvironment();
  benchmark::Shutdown();
  return 0;
}
