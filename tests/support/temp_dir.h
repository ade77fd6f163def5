#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace pgvalve::test {

// A fresh directory that is deleted, with everything in it, when the
// TempDir is destroyed. Always under /tmp rather than $TMPDIR: servers put
// unix sockets in it, and a socket path must fit in 107 bytes.
class TempDir {
 public:
  // Creates /tmp/<prefix>-XXXXXX. When `owner` is given the directory is
  // handed to that user, so that a server dropped to that user can write in
  // it. Throws std::system_error on failure.
  explicit TempDir(std::string_view prefix, std::optional<uid_t> owner = std::nullopt);
  ~TempDir();

  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;

  const std::string& path() const { return path_; }

  // Deletes the directory now; later calls do nothing.
  void Remove();

 private:
  std::string path_;
};

}  // namespace pgvalve::test
