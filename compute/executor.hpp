#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace fedq::compute {

/// Runs compute jobs off the actor threads, in oneTBB task arenas: one arena
/// per thread budget (a tier's `threads`), all together never using more than
/// `total_threads` threads. Compute functions use one libtorch thread each
/// (compute::use_one_thread), so the machine is never oversubscribed. The
/// destructor waits for running jobs.
class executor {
public:
  explicit executor(uint32_t total_threads);
  ~executor();
  executor(const executor&) = delete;
  executor& operator=(const executor&) = delete;

  /// Enqueues `job` in the arena of `budget` threads (clamped to the total).
  void submit(uint32_t budget, std::function<void()> job);

  uint32_t total_threads() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Threads this process may use for compute: `requested`, or the number of
/// cores when 0.
uint32_t compute_threads(uint32_t requested);

} // namespace fedq::compute
