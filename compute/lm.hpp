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
  double holdout_fraction = 0.02;  ///< the stream's tail, never trained on
  uint32_t eval_every = 100;    ///< steps between held-out evaluations (and progress)
  uint32_t eval_windows = 64;   ///< held-out windows evaluated (at most)
  uint64_t seed = 1;
  uint32_t threads = 2;         ///< libtorch intra-op threads
};

struct pretrain_progress {
  uint32_t step = 0;
  double train_loss = 0;    ///< mean over the steps since the last report
  double holdout_loss = 0;  ///< mean token cross-entropy on the held-out windows
  double lr = 0;
  double tokens_per_s = 0;
};

struct pretrain_result {
  double holdout_before = 0, holdout_after = 0;  ///< held-out loss (nats/token)
  uint64_t tokens = 0;                           ///< trained tokens
  uint64_t stream_tokens = 0, holdout_tokens = 0;
  double seconds = 0;
};

/// Causal-LM pretraining of a fresh model of architecture `arch` (random
/// init, Hugging Face's std 0.02) on a token stream (documents joined by
/// eos), on random windows of its head; the tail is held out. Writes
/// config.json and model.safetensors (fp32) into `out_dir`. Progress is
/// reported every eval_every steps and at the end. Throws std::runtime_error
/// with the reason (a stream too short for one window and the hold-out).
pretrain_result pretrain(const llama_config& arch, const std::vector<int32_t>& stream,
                         const pretrain_options& o, const std::string& out_dir,
                         const std::function<void(const pretrain_progress&)>& progress);

} // namespace fedq::compute
