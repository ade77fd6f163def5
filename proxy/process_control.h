#pragma once
// What the admin console may ask of the running process as a whole. The
// rest of ProxyServer (listeners, workers, signals) is none of its business.

#include <memory>

#include "absl/status/status.h"

namespace pgvalve::proxy {

enum class ShutdownMode {
  // Stop accepting; exit when the last client has left, or once
  // shutdown_timeout has passed: then the rest are closed at their
  // transaction boundary and, terminate_wait later, as in kFast.
  kSmart,
  kFast,  // stop accepting; end every session now (FATAL 57P01)
};

class ProcessControl {
 public:
  // Rebuilds the configuration from its sources; the one in effect stays
  // when that fails.
  virtual absl::Status Reload() = 0;
  virtual void Shutdown(ShutdownMode mode) = 0;
  // While the returned guard lives, a shutdown with nothing left to wait
  // for does not stop the process yet (for at most a few seconds): the
  // admin command that ended the last session still gets its reply.
  // Control thread only.
  virtual std::shared_ptr<void> HoldStop() = 0;

 protected:
  ~ProcessControl() = default;
};

}  // namespace pgvalve::proxy
