#include "compute/quant.hpp"

#include <cmath>
#include <stdexcept>

#include "compute/cuda/nf4_cuda.hpp"
#include "compute/nf4_codes.hpp"

namespace fedq::compute {

namespace {

constexpr const auto& codes = nf4_code_values;

/// Pads a flat tensor with zeros to a multiple of `m` and views it as (-1, m).
torch::Tensor blocks_of(const torch::Tensor& flat, int64_t m) {
  int64_t pad = (m - flat.numel() % m) % m;
  auto x = pad ? torch::cat({flat, torch::zeros({pad}, flat.options())}) : flat;
  return x.view({-1, m});
}

void nf4_dequant_cpu(const quantized_weight& w, const torch::Tensor& absmax, float* o) {
  // Each byte holds two codes: a 256-entry table of code pairs.
  static const auto pairs = [] {
    std::array<std::array<float, 2>, 256> t{};
    for (int b = 0; b < 256; ++b)
      t[size_t(b)] = {codes[size_t(b >> 4)], codes[size_t(b & 15)]};
    return t;
  }();
  int64_t n = w.rows * w.cols;
  const auto* q = w.data.data_ptr<uint8_t>();
  const auto* am = absmax.data_ptr<float>();
  constexpr int64_t bytes_per_block = nf4_block / 2;
  int64_t full = n / nf4_block;
  for (int64_t blk = 0; blk < full; ++blk) {
    float s = am[blk];
    const uint8_t* qb = q + blk * bytes_per_block;
    float* ob = o + blk * nf4_block;
    for (int64_t i = 0; i < bytes_per_block; ++i) {
      const auto& p = pairs[qb[i]];
      ob[2 * i] = p[0] * s;
      ob[2 * i + 1] = p[1] * s;
    }
  }
  for (int64_t i = full * nf4_block; i < n; ++i) {  // a partial last block
    uint8_t b = q[i / 2];
    o[i] = codes[size_t(i % 2 == 0 ? b >> 4 : b & 15)] * am[i / nf4_block];
  }
}

torch::Tensor nf4_dequant_generic(const quantized_weight& w, const torch::Tensor& absmax) {
  auto table = torch::tensor(std::vector<float>(codes.begin(), codes.end()),
                             torch::TensorOptions().device(w.data.device()));
  auto hi = w.data.__rshift__(4).to(torch::kInt64);
  auto lo = w.data.bitwise_and(15).to(torch::kInt64);
  auto idx = torch::stack({hi, lo}, 1).view({-1});
  auto vals = table.index_select(0, idx);
  int64_t n = w.rows * w.cols;
  auto scaled = blocks_of(vals, nf4_block) * absmax.unsqueeze(1);
  return scaled.view({-1}).slice(0, 0, n).view({w.rows, w.cols});
}

/// The weight a quant_linear_fn node differentiates with: a copy (tensor
/// handles), so that the node never outlives what it points to.
struct held_weight : torch::CustomClassHolder {
  explicit held_weight(quantized_weight q) : w(std::move(q)) {}
  quantized_weight w;
};

struct quant_linear_fn : torch::autograd::Function<quant_linear_fn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const c10::intrusive_ptr<held_weight>& held) {
    ctx->saved_data["w"] = c10::IValue::make_capsule(held);
    return torch::matmul(x, held->w.dequantize().t());
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto held = c10::static_intrusive_pointer_cast<held_weight>(ctx->saved_data["w"].toCapsule());
    return {torch::matmul(grads[0], held->w.dequantize()), torch::Tensor()};
  }
};

} // namespace

const std::array<float, 16>& nf4_codes() { return codes; }

quantized_weight quantize(const torch::Tensor& w_in, weight_format f, bool double_quant) {
  torch::NoGradGuard no_grad;
  if (w_in.dim() != 2)
    throw std::invalid_argument("quantize: a weight must be 2-D");
  auto w = w_in.detach().to(torch::kFloat32).contiguous();
  quantized_weight q;
  q.format = f;
  q.rows = w.size(0);
  q.cols = w.size(1);
  switch (f) {
  case weight_format::fp32:
    q.data = w;
    break;
  case weight_format::bf16:
    q.data = w.to(torch::kBFloat16);
    break;
  case weight_format::int8: {
    q.absmax = w.abs().amax(1);
    auto scale = (q.absmax / 127.0).clamp_min(1e-30).unsqueeze(1);
    q.data = torch::round(w / scale).clamp(-127, 127).to(torch::kInt8);
    break;
  }
  case weight_format::nf4: {
    auto blocks = blocks_of(w.view({-1}), nf4_block);            // (nb, 64)
    auto absmax = blocks.abs().amax(1);                           // (nb)
    auto normed = blocks / absmax.clamp_min(1e-30).unsqueeze(1);  // in [-1, 1]
    std::vector<float> mids;
    for (size_t i = 0; i + 1 < codes.size(); ++i)
      mids.push_back((codes[i] + codes[i + 1]) / 2);
    auto idx = torch::searchsorted(torch::tensor(mids, w.options()), normed.contiguous())
                 .to(torch::kUInt8)
                 .view({-1});
    if (idx.numel() % 2)
      idx = torch::cat({idx, torch::zeros({1}, idx.options())});
    auto two = idx.view({-1, 2});
    auto packed = two.select(1, 0).__lshift__(4).bitwise_or(two.select(1, 1));
    int64_t used = (q.rows * q.cols + 1) / 2;
    q.data = packed.slice(0, 0, used).contiguous();
    q.absmax = absmax.contiguous();
    if (double_quant) {
      q.double_quant = true;
      q.absmax_offset = absmax.mean().item<float>();
      auto groups = blocks_of(absmax - q.absmax_offset, nf4_dq_group);  // (ng, 256)
      q.absmax_scale = (groups.abs().amax(1) / 127.0).clamp_min(1e-30);
      q.absmax_q = torch::round(groups / q.absmax_scale.unsqueeze(1))
                     .clamp(-127, 127)
                     .to(torch::kInt8)
                     .view({-1})
                     .slice(0, 0, absmax.numel())
                     .contiguous();
      q.absmax = torch::Tensor();
    }
    break;
  }
  }
  return q;
}

torch::Tensor quantized_weight::block_absmax() const {
  if (!double_quant)
    return absmax;
  auto groups = blocks_of(absmax_q.to(torch::kFloat32), nf4_dq_group) * absmax_scale.unsqueeze(1);
  return (groups.view({-1}).slice(0, 0, absmax_q.numel()) + absmax_offset).contiguous();
}

torch::Tensor quantized_weight::dequantize() const {
  if (format == weight_format::fp32)
    return data;
  auto out = torch::empty({rows, cols}, data.options().dtype(torch::kFloat32));
  dequantize_into(out);
  return out;
}

void quantized_weight::dequantize_into(torch::Tensor& out) const {
  if (out.scalar_type() != torch::kFloat32 || !out.is_contiguous() || out.device() != data.device() ||
      out.dim() != 2 || out.size(0) != rows || out.size(1) != cols)
    throw std::invalid_argument("dequantize_into: the output must be a contiguous fp32 (" +
                                std::to_string(rows) + ", " + std::to_string(cols) +
                                ") tensor on the weight's device");
  torch::NoGradGuard no_grad;
  switch (format) {
  case weight_format::fp32:
  case weight_format::bf16:
    out.copy_(data);
    return;
  case weight_format::int8:
    out.copy_(data);
    out.mul_((absmax / 127.0).unsqueeze(1));
    return;
  case weight_format::nf4: {
    auto am = block_absmax();
    if (data.is_cpu())
      return nf4_dequant_cpu(*this, am, out.data_ptr<float>());
    if (data.is_cuda() && cuda::available()) {  // a CUDA libtorch build with the kernel
      auto am32 = am.to(torch::kFloat32).contiguous();
      cuda::nf4_dequantize_device(data.data_ptr<uint8_t>(), am32.data_ptr<float>(), rows * cols,
                                  out.data_ptr<float>());
      return;
    }
    out.copy_(nf4_dequant_generic(*this, am));
    return;
  }
  }
  throw std::logic_error("dequantize: unknown format");
}

int64_t quantized_weight::bytes() const {
  auto nb = [](const torch::Tensor& t) { return t.defined() ? t.numel() * int64_t(t.element_size()) : 0; };
  return nb(data) + nb(absmax) + nb(absmax_q) + nb(absmax_scale);
}

torch::Tensor quant_linear(const torch::Tensor& x, const quantized_weight& w,
                           const torch::Tensor& bias) {
  auto y = quant_linear_fn::apply(x, c10::make_intrusive<held_weight>(w));
  return bias.defined() ? y + bias : y;
}

} // namespace fedq::compute
