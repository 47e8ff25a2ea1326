#include "compute/executor.hpp"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <tbb/global_control.h>
#include <tbb/task_arena.h>

namespace fedq::compute {

struct executor::impl {
  uint32_t total;
  // Arenas only run enqueued jobs on workers: allow `total` of them at once.
  tbb::global_control limit;
  std::mutex mtx;
  std::condition_variable idle;
  size_t running = 0;
  std::map<uint32_t, std::unique_ptr<tbb::task_arena>> arenas;

  explicit impl(uint32_t n)
    : total(n), limit(tbb::global_control::max_allowed_parallelism, n + 1) {}
};

executor::executor(uint32_t total_threads)
  : impl_(std::make_unique<impl>(std::max<uint32_t>(1, total_threads))) {}

executor::~executor() {
  std::unique_lock<std::mutex> lock(impl_->mtx);
  impl_->idle.wait(lock, [this] { return impl_->running == 0; });
}

uint32_t executor::total_threads() const { return impl_->total; }

void executor::submit(uint32_t budget, std::function<void()> job) {
  budget = std::clamp<uint32_t>(budget, 1, impl_->total);
  tbb::task_arena* arena;
  {
    std::lock_guard<std::mutex> lock(impl_->mtx);
    auto& slot = impl_->arenas[budget];
    if (!slot)
      slot = std::make_unique<tbb::task_arena>(static_cast<int>(budget), 0);
    arena = slot.get();
    ++impl_->running;
  }
  auto held = std::make_shared<std::function<void()>>(std::move(job));
  arena->enqueue([this, held] {
    (*held)(); // jobs catch their own errors: see client.cpp
    // What the job holds (actor handles among it) goes before the
    // destructor can return: the last reference to an actor must not be
    // dropped after its actor system is gone.
    *held = nullptr;
    std::lock_guard<std::mutex> lock(impl_->mtx);
    if (--impl_->running == 0)
      impl_->idle.notify_all();
  });
}

uint32_t compute_threads(uint32_t requested) {
  if (requested > 0)
    return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}

} // namespace fedq::compute
