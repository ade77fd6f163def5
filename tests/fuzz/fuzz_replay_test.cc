// Runs every fuzz entry point without libFuzzer, so each build (g++ too, and
// CI's ASan+UBSan build) exercises them: over the generated seeds, every
// truncation and single-byte mutation of each seed, and random inputs from a
// fixed, printed seed. An entry point aborts on a broken invariant; the input
// that did it is printed in hex first.

#include <csignal>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "gtest/gtest.h"
#include "tests/fuzz/fuzz_seeds.h"

#if defined(__SANITIZE_ADDRESS__)
#define PGVALVE_REPLAY_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PGVALVE_REPLAY_SANITIZED 1
#endif
#endif
#ifdef PGVALVE_REPLAY_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif

// The entry points under the names tests/fuzz/CMakeLists.txt gives them.
extern "C" int FuzzStartupPacket(const uint8_t* data, size_t size);
extern "C" int FuzzBackendMessages(const uint8_t* data, size_t size);
extern "C" int FuzzMessageScanner(const uint8_t* data, size_t size);
extern "C" int FuzzAdminStatement(const uint8_t* data, size_t size);
extern "C" int FuzzConfigFile(const uint8_t* data, size_t size);
extern "C" int FuzzCommandLine(const uint8_t* data, size_t size);
extern "C" int FuzzScram(const uint8_t* data, size_t size);
extern "C" int FuzzHttpRequest(const uint8_t* data, size_t size);
extern "C" int FuzzEtcdAnswer(const uint8_t* data, size_t size);

namespace pgvalve::fuzz {
namespace {

using EntryPoint = int (*)(const uint8_t*, size_t);

struct Family {
  std::string name;
  EntryPoint entry;
  std::vector<Input> (*seeds)();
  size_t longest_random_input;
  // toml11 reports a syntax error by exception, a thousand times slower
  // than the codec's parsers, so the config file gets fewer.
  int random_inputs = 200'000;
};

void PrintTo(const Family& family, std::ostream* os) { *os << family.name; }

// The input being run, for the crash report.
const Input* current_input = nullptr;
const char* current_family = "";

void WriteString(const char* text) {
  if (::write(STDERR_FILENO, text, std::strlen(text)) < 0) return;
}

// Runs on abort or a sanitizer report: only async-signal-safe calls.
void ReportCurrentInput() {
  if (current_input == nullptr) return;
  WriteString("\nfuzz_replay_test: the failing ");
  WriteString(current_family);
  WriteString(" input, in hex (save with xxd -r -p and pass to the libFuzzer executable):\n");
  static constexpr char kDigits[] = "0123456789abcdef";
  char pair[2];
  for (uint8_t byte : *current_input) {
    pair[0] = kDigits[byte >> 4];
    pair[1] = kDigits[byte & 0xf];
    if (::write(STDERR_FILENO, pair, 2) < 0) return;
  }
  WriteString("\n");
}

void OnAbort(int) { ReportCurrentInput(); }

void RunOne(const Family& family, const Input& input) {
  // An exact-size copy, so the sanitizers catch a read one byte too far.
  Input copy(input);
  current_input = &copy;
  current_family = family.name.c_str();
  family.entry(copy.data(), copy.size());
  current_input = nullptr;
}

class FuzzReplayTest : public ::testing::TestWithParam<Family> {
 protected:
  static void SetUpTestSuite() {
    std::signal(SIGABRT, OnAbort);
#ifdef PGVALVE_REPLAY_SANITIZED
    __sanitizer_set_death_callback(ReportCurrentInput);
#endif
  }
};

TEST_P(FuzzReplayTest, Seeds) {
  std::vector<Input> seeds = GetParam().seeds();
  ASSERT_FALSE(seeds.empty());
  for (const Input& seed : seeds) RunOne(GetParam(), seed);
}

TEST_P(FuzzReplayTest, EveryTruncationAndByteMutationOfTheSeeds) {
  size_t runs = 0;
  for (const Input& seed : GetParam().seeds()) {
    for (size_t length = 0; length < seed.size(); ++length) {
      RunOne(GetParam(), Input(seed.begin(), seed.begin() + static_cast<std::ptrdiff_t>(length)));
      ++runs;
    }
    Input mutated = seed;
    for (size_t at = 0; at < seed.size(); ++at) {
      const uint8_t original = seed[at];
      for (uint8_t value : {uint8_t{0x00}, uint8_t{0x01}, uint8_t{0x7f}, uint8_t{0x80}, uint8_t{0xff},
                            static_cast<uint8_t>(original ^ 0x01), static_cast<uint8_t>(original ^ 0x80),
                            static_cast<uint8_t>(original + 1), static_cast<uint8_t>(original - 1)}) {
        if (value == original) continue;
        mutated[at] = value;
        RunOne(GetParam(), mutated);
        ++runs;
      }
      mutated[at] = original;
    }
  }
  ::testing::Test::RecordProperty("runs", std::to_string(runs));
}

TEST_P(FuzzReplayTest, RandomInputsFromAFixedSeed) {
  constexpr uint64_t kSeed = 20240611;
  const int inputs = GetParam().random_inputs;
  ::testing::Test::RecordProperty("seed", std::to_string(kSeed));
  std::cout << "FuzzReplayTest " << GetParam().name << ": " << inputs << " random inputs from seed " << kSeed
            << "\n";
  std::mt19937_64 random(kSeed);
  const std::vector<Input> seeds = GetParam().seeds();
  const auto below = [&random](size_t bound) { return static_cast<size_t>(random() % bound); };
  for (int i = 0; i < inputs; ++i) {
    Input input;
    if (i % 2 == 0) {
      // Random bytes.
      input.resize(below(GetParam().longest_random_input + 1));
      for (uint8_t& byte : input) byte = static_cast<uint8_t>(random());
    } else {
      // A seed with a few random edits.
      input = seeds[below(seeds.size())];
      const size_t edits = 1 + below(8);
      for (size_t e = 0; e < edits; ++e) {
        switch (below(4)) {
          case 0:
            if (!input.empty()) input[below(input.size())] = static_cast<uint8_t>(random());
            break;
          case 1:
            input.insert(input.begin() + static_cast<std::ptrdiff_t>(below(input.size() + 1)),
                         static_cast<uint8_t>(random()));
            break;
          case 2:
            if (!input.empty()) input.erase(input.begin() + static_cast<std::ptrdiff_t>(below(input.size())));
            break;
          case 3:
            input.resize(below(input.size() + 1));
            break;
        }
      }
    }
    RunOne(GetParam(), input);
  }
}

INSTANTIATE_TEST_SUITE_P(
    EntryPoints, FuzzReplayTest,
    ::testing::Values(Family{"StartupPacket", FuzzStartupPacket, StartupPacketSeeds, 300},
                      Family{"BackendMessages", FuzzBackendMessages, BackendMessageSeeds, 300},
                      Family{"MessageScanner", FuzzMessageScanner, MessageScannerSeeds, 600},
                      Family{"AdminStatement", FuzzAdminStatement, AdminStatementSeeds, 200},
                      Family{"ConfigFile", FuzzConfigFile, ConfigFileSeeds, 300, 50'000},
                      Family{"CommandLine", FuzzCommandLine, CommandLineSeeds, 200},
                      Family{"Scram", FuzzScram, ScramSeeds, 300},
                      Family{"HttpRequest", FuzzHttpRequest, HttpRequestSeeds, 300},
                      Family{"EtcdAnswer", FuzzEtcdAnswer, EtcdAnswerSeeds, 400}),
    [](const ::testing::TestParamInfo<Family>& info) { return info.param.name; });

}  // namespace
}  // namespace pgvalve::fuzz
