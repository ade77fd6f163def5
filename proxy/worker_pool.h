#pragma once
// The threads that run client sessions: one io_context per thread, by
// default one thread per core. A session is accepted onto one worker and
// stays there, so its state is only ever touched by that thread.

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "proxy/asio.h"

namespace pgvalve::proxy {

class WorkerPool {
 public:
  // 0 threads: one per core.
  explicit WorkerPool(size_t threads);
  ~WorkerPool();

  size_t size() const { return workers_.size(); }
  // Round robin over the workers.
  asio::io_context& Next();

  void Start();
  // Lets the threads finish once their sessions are gone.
  void ReleaseWork();
  // Stops the threads, abandoning whatever is still running.
  void StopNow();
  void Join();

 private:
  struct Worker {
    asio::io_context context{1};
    std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::thread thread;
  };
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<size_t> next_{0};
};

}  // namespace pgvalve::proxy
