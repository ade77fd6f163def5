#pragma once
// Shared by the fuzz entry points.
//
// Each entry point is built twice: as a libFuzzer executable, where it must be
// called LLVMFuzzerTestOneInput, and into fuzz_replay_test, where all of them
// share one binary and CMake gives each its own name through
// PGVALVE_FUZZ_ENTRY.

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "absl/status/status.h"

#ifndef PGVALVE_FUZZ_ENTRY
#define PGVALVE_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

// An invariant the codec must keep for every input. A violation aborts, so
// libFuzzer saves the input and fuzz_replay_test prints it.
#define PGVALVE_FUZZ_CHECK(condition)                                                       \
  do {                                                                                      \
    if (!(condition)) {                                                                     \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (false)

namespace pgvalve::fuzz {

// Debian's Abseil has its own string_view, which std::string_view does not
// convert from.
inline std::string_view MessageOf(const absl::Status& status) {
  return {status.message().data(), status.message().size()};
}

}  // namespace pgvalve::fuzz
