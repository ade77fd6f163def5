#include "admin/http/process_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>

namespace pgvalve::admin {
namespace {

// /proc/self/statm: sizes in pages; the second is the resident set.
std::optional<uint64_t> ReadResidentBytes() {
  std::FILE* file = std::fopen("/proc/self/statm", "re");
  if (file == nullptr) return std::nullopt;
  unsigned long long total_pages = 0, resident_pages = 0;
  const int read = std::fscanf(file, "%llu %llu", &total_pages, &resident_pages);
  std::fclose(file);
  if (read != 2) return std::nullopt;
  return resident_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

std::optional<uint64_t> CountOpenFds() {
  DIR* directory = opendir("/proc/self/fd");
  if (directory == nullptr) return std::nullopt;
  uint64_t count = 0;
  while (const dirent* entry = readdir(directory)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(directory);
  // The directory stream's own descriptor was open while counting.
  return count - 1;
}

}  // namespace

ProcessStats ReadProcessStats() { return {.resident_bytes = ReadResidentBytes(), .open_fds = CountOpenFds()}; }

}  // namespace pgvalve::admin
