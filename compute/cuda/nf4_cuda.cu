#include "compute/cuda/nf4_cuda.hpp"

#include <stdexcept>

#include <cuda_runtime.h>

#include "compute/nf4_codes.hpp"

namespace fedq::compute::cuda {

namespace {

__constant__ float codes[16];  // compute/nf4_codes.hpp, copied in once

constexpr int64_t block = 64;

/// One thread per packed byte: two values.
__global__ void nf4_kernel(const uint8_t* __restrict__ packed, const float* __restrict__ absmax, int64_t n,
                           float* __restrict__ out) {
  int64_t bytes = (n + 1) / 2;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < bytes;
       j += int64_t(gridDim.x) * blockDim.x) {
    uint8_t b = packed[j];
    int64_t i = 2 * j;
    out[i] = codes[b >> 4] * absmax[i / block];
    if (i + 1 < n)
      out[i + 1] = codes[b & 15] * absmax[(i + 1) / block];
  }
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}

void launch(const uint8_t* packed, const float* absmax, int64_t n, float* out) {
  static const cudaError_t codes_copied =
    cudaMemcpyToSymbol(codes, nf4_code_values.data(), sizeof(float) * nf4_code_values.size());
  check(codes_copied, "copying the NF4 codes");
  int64_t bytes = (n + 1) / 2;
  int threads = 256;
  int64_t blocks = std::min<int64_t>((bytes + threads - 1) / threads, 65535);
  if (blocks > 0)
    nf4_kernel<<<unsigned(blocks), unsigned(threads)>>>(packed, absmax, n, out);
  check(cudaGetLastError(), "nf4 kernel launch");
}

} // namespace

bool available() {  // asked once: dequantize() calls it for every CUDA weight
  static const bool yes = [] {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
  }();
  return yes;
}

std::string describe() {
  int n = 0;
  auto e = cudaGetDeviceCount(&n);
  std::string built = "NF4 kernel built for sm_" FEDQ_CUDA_ARCHS;
  if (e != cudaSuccess)
    return built + "; no usable device (" + cudaGetErrorString(e) + ")";
  if (n == 0)
    return built + "; no device";
  cudaDeviceProp p{};
  cudaGetDeviceProperties(&p, 0);
  return built + "; " + std::to_string(n) + " device(s), first: " + p.name;
}

void nf4_dequantize_device(const uint8_t* packed, const float* absmax, int64_t n, float* out) {
  launch(packed, absmax, n, out);
}

void nf4_dequantize_host(const uint8_t* packed, const float* absmax, int64_t n, float* out) {
  if (!available())
    throw std::runtime_error("CUDA: no device: " + describe());
  int64_t bytes = (n + 1) / 2, blocks = (n + block - 1) / block;
  uint8_t* d_packed = nullptr;
  float *d_absmax = nullptr, *d_out = nullptr;
  auto release = [&] {
    cudaFree(d_packed);
    cudaFree(d_absmax);
    cudaFree(d_out);
  };
  try {
    check(cudaMalloc(&d_packed, size_t(bytes)), "cudaMalloc");
    check(cudaMalloc(&d_absmax, size_t(blocks) * sizeof(float)), "cudaMalloc");
    check(cudaMalloc(&d_out, size_t(n) * sizeof(float)), "cudaMalloc");
    check(cudaMemcpy(d_packed, packed, size_t(bytes), cudaMemcpyHostToDevice), "copy in");
    check(cudaMemcpy(d_absmax, absmax, size_t(blocks) * sizeof(float), cudaMemcpyHostToDevice), "copy in");
    launch(d_packed, d_absmax, n, d_out);
    check(cudaMemcpy(out, d_out, size_t(n) * sizeof(float), cudaMemcpyDeviceToHost), "copy out");
  } catch (...) {
    release();
    throw;
  }
  release();
}

} // namespace fedq::compute::cuda
