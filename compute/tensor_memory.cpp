#include "compute/tensor_memory.hpp"

#include <atomic>

#include <c10/core/CPUAllocator.h>

namespace fedq::compute {

namespace {

std::atomic<int64_t> live{0}, peak{0};

struct block {
  c10::DataPtr inner;  // libtorch's own allocation; freed with the block
  int64_t bytes;
};

void release(void* ctx) {
  auto* b = static_cast<block*>(ctx);
  live.fetch_sub(b->bytes, std::memory_order_relaxed);
  delete b;
}

struct counting_allocator final : c10::Allocator {
  c10::DataPtr allocate(size_t n) const override {
    auto* b = new block{c10::GetDefaultCPUAllocator()->allocate(n), int64_t(n)};
    void* data = b->inner.get();
    int64_t now = live.fetch_add(b->bytes, std::memory_order_relaxed) + b->bytes;
    int64_t seen = peak.load(std::memory_order_relaxed);
    while (now > seen && !peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
    }
    return {data, b, &release, c10::Device(c10::DeviceType::CPU)};
  }
};

counting_allocator the_allocator;

} // namespace

void count_tensor_memory() {
  if (c10::GetCPUAllocator() != &the_allocator)
    c10::SetCPUAllocator(&the_allocator, /*priority=*/100);
}

double tensor_memory_mb() { return double(live.load()) / (1024.0 * 1024.0); }
double tensor_peak_mb() { return double(peak.load()) / (1024.0 * 1024.0); }
void reset_tensor_peak() { peak.store(live.load()); }

} // namespace fedq::compute
