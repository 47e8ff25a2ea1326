#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "data/metrics.hpp"
#include "scheduling/memory_model.hpp"
#include "serialization/adapter_payload.hpp"

namespace fedq::compute {

using serialization::adapter_payload;

/// A Llama-family decoder classifier (compute/llama.hpp): a Hugging Face
/// checkpoint, or a built-in random one over byte tokens. Its linears are the
/// frozen backbone, stored in `bits`; LoRA adapts the modules in `targets`; a
/// trainable head reads the pooled last hidden states.
struct model_options {
  std::string checkpoint;      ///< Hugging Face folder; empty: the built-in random model
  std::string bits = "fp32";   ///< frozen linears: nf4 | int8 | bf16 | fp32
  bool double_quant = false;   ///< nf4: quantize the block constants too
  uint32_t d_model = 64;       ///< built-in model: hidden size
  uint32_t layers = 2;
  uint32_t heads = 4;
  uint32_t kv_heads = 2;       ///< grouped-query attention
  uint32_t ffn = 128;
  uint32_t max_len = 64;       ///< tokens per example (longer texts are cut)
  uint32_t classes = 2;        ///< head outputs
  bool regression = false;     ///< one output (classes = 1) trained with squared error
  std::string pooling = "mean"; ///< last (the last real token, as HF classifiers) | mean
  /// How a sentence pair reaches the head. joined: one sequence, the two
  /// sentences joined by the separator, pooled once. siamese (Sentence-BERT):
  /// each sentence is its own sequence through the same backbone and LoRA,
  /// pooled to u and v; the head reads [u, v, |u - v|, u * v].
  std::string pair = "joined";
  uint32_t r_max = 16;
  double lora_alpha = 16;      ///< LoRA scale is lora_alpha / r_max for every rank
  uint64_t seed = 1;           ///< built-in backbone initialization
  std::vector<std::string> targets{"q", "k", "v", "o"};  ///< of q k v o gate up down
};

/// Inputs of the head: the hidden size, or four times it for siamese pairs.
uint32_t head_inputs(const model_options& o, uint32_t hidden_size);

/// Checks `o` without building anything: the head, LoRA targets, pooling, pair,
/// bits and the built-in architecture. Throws std::invalid_argument whose
/// message starts with the config key ("model.bits: ...").
void check_model_options(const model_options& o);

/// Frozen backbone weights. Created once per process and shared read-only by
/// every client in it (libtorch types stay behind this interface).
class backbone {
public:
  struct impl;
  static std::shared_ptr<const backbone> create(const model_options& o);
  explicit backbone(std::unique_ptr<impl> p);
  ~backbone();
  const model_options& options() const;
  const impl& get() const { return *impl_; }

private:
  std::unique_ptr<impl> impl_;
};

/// A fresh global adapter at r_max: A random (seeded), B zero, head small random.
adapter_payload init_adapter(const model_options& o, uint64_t seed);

/// Writes `adapter` (at r_max, as the server keeps it) in the Hugging Face
/// PEFT layout into `dir`: adapter_model.safetensors (lora_A/lora_B per
/// targeted module, the head as the modules_to_save "score", with its bias)
/// and adapter_config.json (LORA, SEQ_CLS, r = r_max, lora_alpha, the
/// targets). The safetensors metadata records the pooling. Throws
/// std::runtime_error when the adapter does not fit the model.
void write_peft_adapter(const model_options& o, const adapter_payload& adapter, const std::string& dir);

/// Payload bytes of an adapter at `rank` on the wire: fixed + per_rank * rank.
struct payload_size {
  uint64_t fixed = 0;
  uint64_t per_rank = 0;
};
payload_size adapter_size(const model_options& o);

struct train_options {
  /// The local optimizer, fresh every task: "adamw" or "sgd". Under label
  /// skew Adam's normalized steps stay full size where a client's loss is
  /// already near zero (for instance under logit adjustment); SGD's shrink.
  std::string optimizer = "adamw";
  double lr = 5e-3;
  double head_lr = 0;          ///< the head's learning rate; 0: lr
  double momentum = 0;         ///< sgd only
  double weight_decay = 0.0;
  uint32_t batch_size = 16;
  /// FedProx: the local loss adds prox_mu / 2 * ||w - w_start||^2 over the
  /// trained tensors (adapter and head). 0 = off.
  double prox_mu = 0;
  /// Logit-adjusted cross-entropy (label-aware local loss under label skew):
  /// training adds logit_adjust * log(prior) to the logits, with the prior
  /// the client's own label frequencies (+1 smoothed). 0 = plain
  /// cross-entropy. Evaluation always uses the plain logits.
  double logit_adjust = 0;
  /// FFA-LoRA: A stays at its shared initialization, only B (and the head)
  /// train, so the average of B A over clients is exact.
  bool freeze_a = false;
  /// Activation checkpointing of the decoder layers (as QLoRA uses): the
  /// backward pass runs each layer again instead of keeping its
  /// activations, for less memory at the cost of about one more forward
  /// pass per step. The gradients are the same.
  bool checkpointing = false;
  /// libtorch threads of the training job (on the calling thread). The
  /// runtime's clients use 1 (their parallelism is the executor's); `fedq
  /// profile --threads` times more.
  uint32_t threads = 1;
  /// HetLoRA self-pruning: the local loss adds prune_penalty * the squared
  /// norm of the tail components [floor(prune_keep * r), r) of every A and B;
  /// after training the rank drops to floor(prune_keep * r) where the tail's
  /// share of ||B A|| is below prune_threshold. 0 = off.
  double prune_penalty = 0.0;
  double prune_keep = 0.9;
  double prune_threshold = 0.0;
};

struct train_result {
  adapter_payload adapter;  ///< trained, at the rank it started with
  double loss_before = 0;   ///< on a probe batch, before training
  double loss_after = 0;    ///< on the same probe batch, after training
  uint64_t tokens = 0;      ///< tokens processed by training steps
  double seconds = 0;       ///< wall time
};

/// Trains `start` (any rank <= r_max) for `steps` AdamW steps on batches drawn
/// from `shard` with a generator seeded by `seed`. Deterministic for its inputs.
/// Throws std::runtime_error (libtorch errors included) with a readable reason.
train_result train_local(const backbone& bb, const adapter_payload& start,
                         const std::vector<data::example>& shard, const train_options& t,
                         uint32_t steps, uint64_t seed);

struct eval_result {
  data::predictions predictions;  ///< per item, in order: argmax class or regression output
  double loss = 0;                ///< mean cross-entropy or squared error
};

/// The adapter's predictions and mean loss on `items` (scored by data/metrics).
eval_result evaluate(const backbone& bb, const adapter_payload& adapter,
                     const std::vector<data::example>& items);

/// Makes libtorch (and the BLAS under it) use `n` threads on the calling
/// thread; train_local (train_options::threads) and evaluate (1) call it.
void use_threads(uint32_t n);
inline void use_one_thread() { use_threads(1); }

/// The CUDA devices that the libtorch of this build can use: 0 for a
/// CPU-only libtorch (Debian's) or where no GPU is visible.
int cuda_devices();

/// The frozen backbone's stored weights (its linears in o.bits, the fp32
/// embedding), MB.
double frozen_memory_mb(const model_options& o);

/// Estimated training memory, MB: the frozen backbone, and a step's tensors
/// at full length (max_len tokens): the adapter with its gradients and AdamW
/// state, the activations autograd keeps (with checkpointing, each layer's
/// input and one layer recomputed), and a quantized weight's fp32 copy. Its
/// constants are fitted to measured tensor peaks (README, *Calibrating*).
double training_memory_mb(const model_options& o, uint32_t rank, uint32_t batch_size, bool checkpointing);

/// training_memory_mb as the scheduler's memory model, for each of `formats`.
scheduling::memory_model training_memory_model(const model_options& o, uint32_t batch_size, bool checkpointing,
                                               const std::vector<std::string>& formats);

} // namespace fedq::compute
