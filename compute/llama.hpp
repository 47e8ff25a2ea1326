#pragma once
// A Llama-family decoder in libtorch: RMSNorm, rotary embeddings (with
// llama3 scaling), grouped-query attention, SwiGLU MLP, optional tied
// embeddings; frozen linears stored quantized, LoRA on any of q k v o gate up
// down. compute/ and its tests only.

#include <array>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "compute/llama_config.hpp"
#include "compute/quant.hpp"

namespace fedq::compute {

/// Its Hugging Face name inside a layer: "self_attn.q_proj", "mlp.gate_proj", ...
std::string llama_hf_module(int m);
/// Its weight shape (out, in).
std::array<int64_t, 2> llama_module_shape(const llama_config& c, int m);

/// A linear layer's weight: frozen and quantized, or (pretraining) a dense
/// trainable tensor.
struct linear_weight {
  quantized_weight frozen;
  torch::Tensor dense;  ///< when defined, used instead of `frozen`
  torch::Tensor bias;   ///< optional (q, k, v of qwen2)
  int64_t in = 0, out = 0;
  torch::Tensor apply(const torch::Tensor& x) const;
  torch::Tensor weight() const;  ///< fp32 (out, in)
};

struct llama_weights {
  llama_config cfg;
  weight_format format = weight_format::fp32;
  torch::Tensor embed;  ///< (vocab, hidden)
  struct layer {
    torch::Tensor attn_norm, mlp_norm;  ///< (hidden)
    std::array<linear_weight, 7> proj;
  };
  std::vector<layer> layers;
  torch::Tensor norm;      ///< (hidden)
  linear_weight lm_head;   ///< unused when tie_word_embeddings
  torch::Tensor inv_freq;  ///< rotary frequencies (head_dim / 2)
};

/// Low-rank adapters: per layer and module, A (r, in) and B (out, r), or
/// undefined tensors where the module is not targeted; output += scale * x A^T B^T.
struct lora_tensors {
  std::vector<std::array<torch::Tensor, 7>> a, b;
  double scale = 1.0;
};

/// Loads a Hugging Face checkpoint folder (config.json + safetensors) with
/// its frozen linears stored in `format`. Every tensor of the checkpoint must
/// be used; a missing, unused or mis-shaped one is an error naming it.
llama_weights load_llama(const std::string& dir, weight_format format, bool double_quant = false);

/// A randomly initialized model, norms 1. `trainable`: dense fp32 tensors
/// that require grad, for pretraining, drawn from normal(0, 0.02) as Hugging
/// Face does. Frozen: a random feature extractor, embeddings normal(0, 1) and
/// linears normal(0, 1/fan_in).
llama_weights random_llama(const llama_config& c, uint64_t seed, weight_format format,
                           bool double_quant = false, bool trainable = false);

/// Writes config.json and model.safetensors (fp32) in the Hugging Face layout.
void save_llama(const llama_weights& w, const std::string& dir);

/// Final hidden states (B, T, hidden) for token ids (B, T) with a key mask
/// (B, T; true on real tokens, padding on the right); causal attention.
/// `checkpoint`: activation checkpointing of every decoder layer (while
/// grad is on): each keeps only its input for the backward pass and runs
/// again there; the gradients are the same, the activations' memory is one
/// layer's instead of all.
torch::Tensor llama_hidden(const llama_weights& w, const lora_tensors* lora,
                           const torch::Tensor& ids, const torch::Tensor& mask, bool checkpoint = false);

/// Next-token logits (B, T, vocab) from hidden states.
torch::Tensor llama_lm_logits(const llama_weights& w, const torch::Tensor& hidden);

/// The hidden state of each row's last real token (B, hidden).
torch::Tensor last_token(const torch::Tensor& hidden, const torch::Tensor& mask);

} // namespace fedq::compute
