#pragma once
// libtorch side of the model; included by compute/ translation units only.

#include <torch/torch.h>

#include "compute/llama.hpp"
#include "compute/model.hpp"
#include "data/text_encoder.hpp"

namespace fedq::compute {

struct backbone::impl {
  model_options opts;
  llama_weights w;
  data::text_encoder encoder;  ///< the checkpoint's tokenizer, or byte tokens
};

/// The adapter as tensors that autograd can train.
struct adapter_tensors {
  lora_tensors lora;     // per layer and module; undefined where not targeted
  torch::Tensor head_w;  // (classes, head_inputs)
  torch::Tensor head_b;  // (classes)
  std::vector<torch::Tensor> parameters() const;
};

/// The architecture `o` describes: its checkpoint's config.json, or the built-in one.
llama_config model_config(const model_options& o);

adapter_tensors to_tensors(const backbone::impl& bb, const adapter_payload& p, bool trainable);
adapter_payload to_payload(const backbone::impl& bb, const adapter_tensors& t);

/// Pads token lists into (rows, T) ids and a (rows, T) mask, T the longest
/// list (at most max_len). Rows are the B examples, or for siamese pairs
/// 2B: the first sentences, then the second ones.
struct token_batch {
  torch::Tensor ids;   // (rows, T) int64
  torch::Tensor mask;  // (rows, T) bool, true on real tokens
  torch::Tensor targets; // (B) int64 labels, or float scores (regression)
};
token_batch make_batch(const std::vector<const data::example*>& items, const backbone::impl& bb);
/// An example's token ids as the model's rows: one sequence, or two for a
/// siamese pair; each at most max_len.
using encoded = std::vector<std::vector<int32_t>>;
encoded encode(const data::example& e, const backbone::impl& bb);
/// The longest of an encoding's sequences.
size_t longest(const encoded& e);
/// The same from the items' encodings (`tokens[i]` is encode(*items[i], bb)).
token_batch make_batch(const std::vector<const data::example*>& items, const std::vector<encoded>& tokens,
                       const backbone::impl& bb);

/// The training loss of outputs (B, classes) against the batch's targets:
/// cross-entropy, or squared error for regression; mean or sum over the batch.
torch::Tensor task_loss(const model_options& o, const torch::Tensor& out, const token_batch& b,
                        bool sum = false);

/// Head outputs (B, classes): class logits, or (B, 1) regression scores.
/// The task's outputs (B, classes); `checkpoint`: activation checkpointing
/// of the decoder layers (llama_hidden).
torch::Tensor forward(const backbone::impl& bb, const adapter_tensors& ad, const token_batch& batch,
                      bool checkpoint = false);

} // namespace fedq::compute
