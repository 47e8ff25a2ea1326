#pragma once
// The architecture of a Llama-family decoder (Llama, SmolLM, Qwen2, TinyLlama),
// as a Hugging Face config.json describes it. No libtorch.

#include <cstdint>
#include <string>

namespace fedq::compute {

struct llama_config {
  std::string model_type = "llama";  ///< llama | qwen2
  uint32_t vocab_size = 258;
  uint32_t hidden_size = 64;
  uint32_t intermediate_size = 128;
  uint32_t num_hidden_layers = 2;
  uint32_t num_attention_heads = 4;
  uint32_t num_key_value_heads = 2;
  uint32_t head_dim = 16;             ///< hidden_size / heads unless given
  uint32_t max_position_embeddings = 512;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000;
  bool tie_word_embeddings = true;
  bool attention_bias = false;        ///< q, k, v biases (always on for qwen2)
  /// rope_scaling of type "llama3" (Llama 3.1/3.2); factor 0 = none.
  double rope_factor = 0;
  double rope_low_freq_factor = 1;
  double rope_high_freq_factor = 4;
  uint32_t rope_original_max_positions = 8192;
  int64_t pad_token_id = -1;
  int64_t bos_token_id = -1;
  int64_t eos_token_id = -1;
};

/// Reads `path` (a config.json). Throws std::runtime_error naming the file and
/// the key for a missing or unsupported setting.
llama_config read_llama_config(const std::string& path);

/// config.json text for `c`, in the Hugging Face layout (model_type llama or
/// qwen2, architectures, torch_dtype float32).
std::string llama_config_json(const llama_config& c);

} // namespace fedq::compute
