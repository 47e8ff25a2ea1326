#pragma once
// libtorch side of the model; included by compute/ translation units only.

#include <torch/torch.h>

#include "compute/model.hpp"

namespace fedq::compute {

struct backbone::impl {
  model_options opts;
  torch::Tensor embed;  // (vocab, d)
  torch::Tensor pos;    // (max_len, d)
  struct layer {
    torch::Tensor ln1_w, ln1_b;  // (d)
    torch::Tensor wq, wk, wv, wo; // (d, d)
    torch::Tensor ln2_w, ln2_b;  // (d)
    torch::Tensor w1, b1;        // (ffn, d), (ffn)
    torch::Tensor w2, b2;        // (d, ffn), (d)
  };
  std::vector<layer> layers;
  torch::Tensor lnf_w, lnf_b;  // (d)
};

/// The adapter as tensors that autograd can train.
struct adapter_tensors {
  struct pair {
    torch::Tensor a;  // (r, d_in)
    torch::Tensor b;  // (d_out, r)
  };
  std::vector<pair> lora;          // layer-major, in targets order; empty tensors for untargeted
  std::vector<bool> targeted;      // per (layer, projection q k v o)
  torch::Tensor head_w;            // (classes, d)
  torch::Tensor head_b;            // (classes)
  std::vector<torch::Tensor> parameters() const;
};

adapter_tensors to_tensors(const backbone::impl& bb, const adapter_payload& p, bool trainable);
adapter_payload to_payload(const backbone::impl& bb, const adapter_tensors& t);

/// Pads token lists into (batch, max_len) ids and a (batch, max_len) mask.
struct token_batch {
  torch::Tensor ids;   // (B, T) int64
  torch::Tensor mask;  // (B, T) bool, true on real tokens
  torch::Tensor targets; // (B) int64 labels, or float scores (regression)
};
token_batch make_batch(const std::vector<const data::example*>& items, const model_options& o);

/// The training loss of outputs (B, classes) against the batch's targets:
/// cross-entropy, or squared error for regression; mean or sum over the batch.
torch::Tensor task_loss(const model_options& o, const torch::Tensor& out, const token_batch& b,
                        bool sum = false);

/// Head outputs (B, classes): class logits, or (B, 1) regression scores.
torch::Tensor forward(const backbone::impl& bb, const adapter_tensors& ad, const token_batch& batch);

} // namespace fedq::compute
