// The build without nvcc: no kernel, so every caller takes the CPU path.
#include "compute/cuda/nf4_cuda.hpp"

#include <stdexcept>

namespace fedq::compute::cuda {

bool available() { return false; }

std::string describe() { return "NF4 kernel not built (no nvcc found at configure time)"; }

void nf4_dequantize_host(const uint8_t*, const float*, int64_t, float*) {
  throw std::runtime_error("CUDA: " + describe());
}

void nf4_dequantize_device(const uint8_t*, const float*, int64_t, float*) {
  throw std::runtime_error("CUDA: " + describe());
}

} // namespace fedq::compute::cuda
