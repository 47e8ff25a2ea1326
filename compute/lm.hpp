#pragma once
// Language-model entry points that need no libtorch types: for the command
// line and tests.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "compute/llama_config.hpp"

namespace fedq::compute {

/// Logits (per position, vocab values each) of the checkpoint in `dir` (Hugging
/// Face layout) after `tokens`, with its linears stored as `format` (nf4, int8,
/// bf16, fp32). Throws std::runtime_error naming the problem (a token id out
/// of the vocabulary, a bad checkpoint).
std::vector<std::vector<float>> lm_logits(const std::string& dir, const std::vector<int64_t>& tokens,
                                          const std::string& format = "fp32");

struct pretrain_options {
  uint32_t steps = 3000;
  uint32_t batch_size = 16;
  uint32_t seq_len = 128;       ///< tokens per training window
  double lr = 3e-3;             ///< peak; linear warm-up, then cosine to lr / 10
  uint32_t warmup_steps = 100;
  double weight_decay = 0.01;   ///< AdamW, on matrices only (not norms or biases)
  double holdout_fraction = 0.02;  ///< of each source: its tail, never trained on
  uint32_t eval_every = 100;    ///< steps between held-out evaluations (and progress)
  uint32_t eval_windows = 64;   ///< held-out windows evaluated (at most)
  uint64_t seed = 1;
  uint32_t threads = 2;         ///< libtorch intra-op threads
};

/// The token stream of one corpus source (its documents joined by eos).
struct token_source {
  std::string name;
  std::vector<int32_t> stream;
};

struct pretrain_progress {
  uint32_t step = 0;
  double train_loss = 0;    ///< mean over the steps since the last report
  /// Mean token cross-entropy on each source's held-out tail (in the order
  /// of the sources), and their mean.
  std::vector<double> holdout_losses;
  double holdout_loss = 0;
  double lr = 0;
  double tokens_per_s = 0;
};

struct pretrain_result {
  /// Held-out loss (nats/token) per source, before and after, and their means.
  std::vector<double> holdout_before_by_source, holdout_after_by_source;
  double holdout_before = 0, holdout_after = 0;
  uint64_t tokens = 0;                           ///< trained tokens
  uint64_t stream_tokens = 0, holdout_tokens = 0;
  double seconds = 0;
};

/// Causal-LM pretraining of a fresh model of architecture `arch` (random
/// init, Hugging Face's std 0.02) on the sources' token streams. The tail
/// (holdout_fraction, at least one window) of every source's stream is held
/// out; training windows are drawn uniformly from the heads, joined. Writes
/// config.json and model.safetensors (fp32) into `out_dir`. Progress is
/// reported every eval_every steps and at the end. Throws std::runtime_error
/// with the reason (a source too short for a window and its hold-out).
pretrain_result pretrain(const llama_config& arch, const std::vector<token_source>& sources,
                         const pretrain_options& o, const std::string& out_dir,
                         const std::function<void(const pretrain_progress&)>& progress);

} // namespace fedq::compute
