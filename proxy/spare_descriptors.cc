#include "proxy/spare_descriptors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

namespace pgvalve::proxy {

SpareDescriptors::SpareDescriptors(int count) : wanted_(std::clamp(count, 0, kMaxSpares)) {
  fds_.fill(-1);
  Reacquire();
}

SpareDescriptors::~SpareDescriptors() { Release(); }

void SpareDescriptors::Release() {
  for (int& fd : fds_) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
}

void SpareDescriptors::Reacquire() {
  for (int i = 0; i < wanted_; ++i) {
    if (fds_[i] < 0) fds_[i] = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
}

int SpareDescriptors::held() const {
  return static_cast<int>(std::count_if(fds_.begin(), fds_.end(), [](int fd) { return fd >= 0; }));
}

}  // namespace pgvalve::proxy
