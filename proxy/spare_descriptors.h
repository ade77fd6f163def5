#pragma once
// Descriptors held open on /dev/null so that a listener can still accept
// when the process has run out of them: on EMFILE it gives them up, accepts
// the waiting connection and takes them again (the classic accept-EMFILE
// remedy, as in libev's and nginx's documentation). The admin listener
// uses it so that the operator is never locked out.

#include <array>

namespace pgvalve::proxy {

class SpareDescriptors {
 public:
  explicit SpareDescriptors(int count);
  ~SpareDescriptors();
  SpareDescriptors(const SpareDescriptors&) = delete;
  SpareDescriptors& operator=(const SpareDescriptors&) = delete;

  // Closes every spare descriptor.
  void Release();
  // Opens as many as were asked for at construction, as far as the limit
  // allows.
  void Reacquire();
  int held() const;

 private:
  static constexpr int kMaxSpares = 8;
  int wanted_;
  std::array<int, kMaxSpares> fds_;
};

}  // namespace pgvalve::proxy
