#include "compute/flexlora.hpp"

#include <cmath>
#include <stdexcept>

#include "compute/aggregation.hpp"
#include <torch/torch.h>

namespace fedq::compute {

namespace {

using serialization::lora_pair;

/// B A of a pair, (d_out, d_in), in double precision.
torch::Tensor product(const lora_pair& p) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  auto a = torch::from_blob(const_cast<float*>(p.a.data()), {int64_t(p.rank), int64_t(p.d_in)}, opts);
  auto b = torch::from_blob(const_cast<float*>(p.b.data()), {int64_t(p.d_out), int64_t(p.rank)}, opts);
  return b.to(torch::kFloat64).mm(a.to(torch::kFloat64));
}

/// The top-`rank` SVD factors of `w` into `out` (its name and shape kept):
/// B = U sqrt(S), A = sqrt(S) V^T; zero components where w has lower rank.
void split(const torch::Tensor& w, uint32_t rank, lora_pair& out) {
  auto [u, s, vh] = torch::linalg_svd(w, /*full_matrices=*/false);
  int64_t k = std::min<int64_t>(rank, s.size(0));
  auto root = s.slice(0, 0, k).sqrt();
  auto b = torch::zeros({int64_t(out.d_out), int64_t(rank)}, torch::kFloat64);
  auto a = torch::zeros({int64_t(rank), int64_t(out.d_in)}, torch::kFloat64);
  b.slice(1, 0, k).copy_(u.slice(1, 0, k) * root.unsqueeze(0));
  a.slice(0, 0, k).copy_(vh.slice(0, 0, k) * root.unsqueeze(1));
  auto bf = b.to(torch::kFloat32).contiguous(), af = a.to(torch::kFloat32).contiguous();
  out.rank = rank;
  out.b.assign(bf.data_ptr<float>(), bf.data_ptr<float>() + bf.numel());
  out.a.assign(af.data_ptr<float>(), af.data_ptr<float>() + af.numel());
}

void check_pair(const lora_pair& base, const lora_pair& x) {
  if (x.name != base.name || x.d_in != base.d_in || x.d_out != base.d_out)
    throw std::invalid_argument("flexlora: module '" + x.name + "' does not match the global's '" +
                                base.name + "'");
}

} // namespace

adapter_payload flexlora_average(const adapter_payload& base, const std::vector<adapter_payload>& updates,
                                 const std::vector<double>& weights, const adapter_payload* current) {
  torch::NoGradGuard no_grad;
  // Dense tensors (and the checks) as FedAvg; the LoRA pairs are replaced below.
  auto next = weighted_average(base, updates, weights);
  if (current)
    carry_over(next, base, *current);
  double total = 0;
  for (double w : weights)
    total += w;
  for (size_t i = 0; i < base.lora.size(); ++i) {
    auto w = torch::zeros({int64_t(base.lora[i].d_out), int64_t(base.lora[i].d_in)}, torch::kFloat64);
    for (size_t k = 0; k < updates.size(); ++k) {
      check_pair(base.lora[i], updates[k].lora[i]);
      w += product(updates[k].lora[i]) * (weights[k] / total);
    }
    if (current) {
      check_pair(base.lora[i], current->lora[i]);
      w += product(current->lora[i]) - product(base.lora[i]);
    }
    split(w, base.lora[i].rank, next.lora[i]);
  }
  return next;
}

void flexlora_mix(adapter_payload& global, const adapter_payload& update, double w) {
  torch::NoGradGuard no_grad;
  if (global.lora.size() != update.lora.size())
    throw std::invalid_argument("flexlora: the late update has other modules than the global");
  std::vector<torch::Tensor> mixed;
  for (size_t i = 0; i < global.lora.size(); ++i) {
    check_pair(global.lora[i], update.lora[i]);
    mixed.push_back(product(global.lora[i]) * (1 - w) + product(update.lora[i]) * w);
  }
  mix(global, update, w);  // the dense tensors (the LoRA pairs are replaced below)
  for (size_t i = 0; i < global.lora.size(); ++i)
    split(mixed[i], global.lora[i].rank, global.lora[i]);
}

} // namespace fedq::compute
