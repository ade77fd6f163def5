#include "tests/support/temp_dir.h"

#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

namespace pgvalve::test {

TempDir::TempDir(std::string_view prefix, std::optional<uid_t> owner) {
  std::string pattern = "/tmp/";
  pattern.append(prefix);
  pattern.append("-XXXXXX");
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  }
  path_ = buffer.data();
  if (owner && ::chown(path_.c_str(), *owner, static_cast<gid_t>(-1)) != 0) {
    const int error = errno;
    Remove();
    throw std::system_error(error, std::generic_category(), "chown " + pattern);
  }
}

TempDir::~TempDir() { Remove(); }

TempDir::TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

void TempDir::Remove() {
  if (path_.empty()) return;
  std::error_code ignored;  // Best effort: a leftover dir in /tmp harms nobody.
  std::filesystem::remove_all(path_, ignored);
  path_.clear();
}

}  // namespace pgvalve::test
