#pragma once
// Frozen weights stored quantized, and the linear layer that uses them
// without keeping a dequantized copy. libtorch side; compute/ and its tests only.

#include <array>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "compute/model_spec.hpp"

namespace fedq::compute {

/// The 16 NF4 code values (QLoRA), ascending, -1 .. 1.
const std::array<float, 16>& nf4_codes();

constexpr int64_t nf4_block = 64;        ///< values per absmax
constexpr int64_t nf4_dq_group = 256;    ///< absmax values per second-level scale

/// A quantized (rows, cols) weight.
/// - nf4: `data` uint8, two 4-bit code indices per byte (element 2i in the high
///   nibble), blocks of 64 consecutive values in row-major order, `absmax`
///   fp32 per block; with double quantization `absmax` is instead stored as
///   int8 `absmax_q` with one fp32 `absmax_scale` per 256 blocks around the
///   fp32 `absmax_offset` (their mean).
/// - int8: `data` int8 (rows, cols), `absmax` fp32 per row: w = q * absmax / 127.
/// - bf16 / fp32: `data` holds the weight itself.
struct quantized_weight {
  weight_format format = weight_format::fp32;
  int64_t rows = 0, cols = 0;
  torch::Tensor data;
  torch::Tensor absmax;
  bool double_quant = false;
  torch::Tensor absmax_q;
  torch::Tensor absmax_scale;
  float absmax_offset = 0;

  /// The weight as fp32 (rows, cols): a fresh tensor for nf4/int8/bf16, `data`
  /// itself for fp32.
  torch::Tensor dequantize() const;
  /// The same values written into `out`, a contiguous fp32 (rows, cols) tensor
  /// on the weight's device (a buffer kept warm across calls); fp32 copies.
  void dequantize_into(torch::Tensor& out) const;
  /// Bytes held (codes and constants).
  int64_t bytes() const;
  /// The per-block absmax as fp32 (decoded when double-quantized).
  torch::Tensor block_absmax() const;
};

/// Quantizes a 2-D float weight. `double_quant` applies to nf4 only.
quantized_weight quantize(const torch::Tensor& w, weight_format f, bool double_quant = false);

/// y = x W^T (+ bias) for a frozen quantized W. Autograd saves nothing but a
/// pointer to `w`: backward dequantizes again to form dL/dx = dL/dy W, so no
/// dequantized copy outlives the call. `w` must outlive the graph.
torch::Tensor quant_linear(const torch::Tensor& x, const quantized_weight& w,
                           const torch::Tensor& bias = {});

} // namespace fedq::compute
