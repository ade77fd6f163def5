#include "proxy/worker_pool.h"

#include <spdlog/spdlog.h>

#include "proxy/cancel_key_map.h"

namespace pgvalve::proxy {

WorkerPool::WorkerPool(size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (size_t i = 0; i < threads; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->work = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
        worker->context.get_executor());
    workers_.push_back(std::move(worker));
  }
}

WorkerPool::~WorkerPool() {
  StopNow();
  Join();
}

asio::io_context& WorkerPool::Next() {
  return workers_[next_.fetch_add(1, std::memory_order_relaxed) % workers_.size()]->context;
}

void WorkerPool::Start() {
  for (auto& worker : workers_) {
    worker->thread = std::thread([context = &worker->context] {
      PrepareRandomForThisThread();
      try {
        context->run();
      } catch (const std::exception& error) {
        spdlog::critical("worker thread stopped by an unexpected error: {}", error.what());
        throw;
      }
    });
  }
}

void WorkerPool::ReleaseWork() {
  for (auto& worker : workers_) worker->work.reset();
}

void WorkerPool::StopNow() {
  for (auto& worker : workers_) worker->context.stop();
}

void WorkerPool::Join() {
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
}

}  // namespace pgvalve::proxy
