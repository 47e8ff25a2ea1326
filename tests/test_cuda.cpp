#include <catch2/catch.hpp>

#include <vector>

#include "compute/cuda/nf4_cuda.hpp"
#include "compute/quant.hpp"

using namespace fedq::compute;

TEST_CASE("the CUDA NF4 kernel matches the CPU dequantization bit for bit") {
  if (!cuda::available()) {
    WARN("skipped: " << cuda::describe());
    return;
  }
  INFO(cuda::describe());
  torch::manual_seed(7);
  for (bool dq : {false, true})
    for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{64, 64}, {3, 37}, {257, 129}, {1024, 1024}}) {
      auto q = quantize(torch::randn({rows, cols}), weight_format::nf4, dq);
      auto cpu = q.dequantize();
      auto am = q.block_absmax().contiguous();
      std::vector<float> gpu(size_t(rows * cols));
      cuda::nf4_dequantize_host(q.data.data_ptr<uint8_t>(), am.data_ptr<float>(), rows * cols, gpu.data());
      CHECK(torch::equal(cpu, torch::from_blob(gpu.data(), {rows, cols}, torch::kFloat32)));
    }
}

TEST_CASE("without a GPU the CUDA entry point refuses and says why") {
  if (cuda::available()) {
    SUCCEED("a device is present: the kernel test above ran");
    return;
  }
  uint8_t packed[1] = {0x7F};
  float absmax[1] = {1}, out[2] = {0, 0};
  CHECK_THROWS_WITH(cuda::nf4_dequantize_host(packed, absmax, 2, out), Catch::StartsWith("CUDA: "));
  CHECK_FALSE(cuda::describe().empty());
}
