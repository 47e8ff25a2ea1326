#pragma once
// The NF4 dequantization kernel in CUDA, built when nvcc is found (see
// CMakeLists.txt); without it, or without a GPU, available() is false and the
// CPU path in compute/quant.cpp is used. No libtorch, no CUDA headers.

#include <cstdint>
#include <string>

namespace fedq::compute::cuda {

/// True when this build has the kernel and a CUDA device is visible.
bool available();
/// What the build and the machine have, for logs and skipped tests.
std::string describe();

/// out[i] = code(packed, i) * absmax[i / 64] for i < n, computed on the GPU
/// from host buffers (copied in and out), codes packed as compute/quant.hpp
/// says (element 2i in the high nibble). Throws std::runtime_error naming
/// the CUDA error; without available() it throws.
void nf4_dequantize_host(const uint8_t* packed, const float* absmax, int64_t n, float* out);

/// The same on device pointers, on the default stream (a CUDA libtorch's
/// tensors); returns when the kernel has been queued.
void nf4_dequantize_device(const uint8_t* packed, const float* absmax, int64_t n, float* out);

} // namespace fedq::compute::cuda
