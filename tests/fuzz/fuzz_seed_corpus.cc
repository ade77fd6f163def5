// Writes the generated seeds as libFuzzer corpus directories:
//   fuzz_seed_corpus DIR
// creates one directory per fuzzer under DIR (DIR/startup_packet,
// DIR/scram, ...), named after the fuzzer without its fuzz_ prefix, one file
// per seed.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "tests/fuzz/fuzz_seeds.h"

namespace {

bool WriteCorpus(const std::filesystem::path& dir, const std::vector<pgvalve::fuzz::Input>& seeds) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    std::fprintf(stderr, "cannot create %s: %s\n", dir.c_str(), error.message().c_str());
    return false;
  }
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream out(dir / fmt::format("seed-{:03}", i), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(seeds[i].data()), static_cast<std::streamsize>(seeds[i].size()));
    if (!out) {
      std::fprintf(stderr, "cannot write into %s\n", dir.c_str());
      return false;
    }
  }
  std::printf("%zu seeds in %s\n", seeds.size(), dir.c_str());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  const bool ok = WriteCorpus(root / "startup_packet", pgvalve::fuzz::StartupPacketSeeds()) &&
                  WriteCorpus(root / "backend_messages", pgvalve::fuzz::BackendMessageSeeds()) &&
                  WriteCorpus(root / "message_scanner", pgvalve::fuzz::MessageScannerSeeds()) &&
                  WriteCorpus(root / "admin_statement", pgvalve::fuzz::AdminStatementSeeds()) &&
                  WriteCorpus(root / "config_file", pgvalve::fuzz::ConfigFileSeeds()) &&
                  WriteCorpus(root / "command_line", pgvalve::fuzz::CommandLineSeeds()) &&
                  WriteCorpus(root / "scram", pgvalve::fuzz::ScramSeeds()) &&
                  WriteCorpus(root / "http_request", pgvalve::fuzz::HttpRequestSeeds()) &&
                  WriteCorpus(root / "etcd_answer", pgvalve::fuzz::EtcdAnswerSeeds());
  return ok ? 0 : 1;
}
