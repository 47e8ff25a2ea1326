#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "scheduling/cost_model.hpp"
#include "scheduling/memory_model.hpp"
#include "scheduling/tier.hpp"

namespace fedq::scheduling {

/// What a client reported about the task it finished last.
struct telemetry {
  uint32_t round = 0;          ///< round of the task this describes
  uint32_t rank = 0;           ///< the rank it returned (after any self-pruning)
  uint32_t steps = 0;
  uint32_t tokens_per_step = 0;  ///< planned (padded) tokens per step; set by the server
  uint64_t bytes_down = 0;
  uint64_t bytes_up = 0;
  double duration_s = 0;       ///< dispatch to arrival, on the run's clock
  double compute_s = 0;        ///< training time, on the run's clock
  double loss_before = 0;
  double loss_after = 0;
  double memory_mb = 0;        ///< training memory under the memory model
  double transfer_s = 0;       ///< moving the payloads, on the run's clock
  std::string bits = "fp32";   ///< the backbone format it trained on
  uint32_t trained_rank = 0;   ///< the rank it was asked to train at
  /// Local validation loss right after training, and with the rank tail
  /// zeroed (to the task's validate_rank); measured only when the task asks (< 0: not).
  double val_loss = -1;
  double val_loss_cf = -1;
};

/// A client the server wants to use this round.
struct client_view {
  uint32_t id = 0;
  uint32_t tier = 0;           ///< index into the tier list
  uint32_t samples = 0;
  bool has_telemetry = false;
  telemetry last;
};

/// What the server saw of the last closed round.
struct round_feedback {
  bool valid = false;
  uint32_t round = 0;
  double duration_s = 0;        ///< start to close, on the run's clock
  double on_time_fraction = 0;  ///< participants that arrived by the deadline
  double mean_rank = 0;         ///< of the round's plan
  double loss = 0;              ///< global eval loss after the round
  double loss_prev = 0;         ///< the same after the round before
  /// FAH-QLoRA's stage 1 (needs_local_validation): F, the mean over the
  /// round's on-time clients of the local validation loss each measured
  /// right after its training; F_prev, the same of the round before; F^,
  /// the same with each client's rank tail zeroed (rank - 1, at least r_min).
  bool has_client_loss = false;
  double client_loss = 0;       ///< F
  double client_loss_prev = 0;  ///< F_prev
  double client_loss_cf = 0;    ///< F^
};

/// Everything a policy may look at to plan one round.
struct plan_input {
  uint32_t round = 0;
  uint32_t tokens_per_step = 0;
  uint64_t bytes_fixed = 0;     ///< adapter payload bytes independent of rank
  uint64_t bytes_per_rank = 0;  ///< adapter payload bytes per unit of rank
  std::vector<client_view> clients;
  round_feedback feedback;
};

struct assignment {
  uint32_t client = 0;
  uint32_t rank = 0;
  uint32_t steps = 0;
  double predicted_s = 0;  ///< the policy's own prediction of the duration
  std::string bits = "fp32";
};

struct round_plan {
  uint32_t round = 0;
  double deadline_s = 0;   ///< relative to the round's start
  std::vector<assignment> clients;
  double decision_us = 0;  ///< wall time the policy took to decide
  std::vector<uint32_t> skipped;  ///< clients left out: no plan fits their memory
};

struct policy_options {
  std::string name = "online";
  uint32_t rank = 8;          ///< `fixed`: every client's rank
  uint32_t r_min = 2;
  uint32_t r_max = 16;
  uint32_t local_steps = 10;
  double deadline_s = 30.0;   ///< `fixed`, `hetlora`: the round deadline
  double percentile = 0.6;    ///< `deadline-aware`: deadline = this percentile of predicted times at r_max
  double ewma = 0.5;          ///< weight of the newest observation in speed estimates
  std::string bits = "fp32";  ///< the backbone format (model.bits)
  // fah, waterfill
  uint32_t r_init = 16;       ///< initial mean rank (clipped to r_min..r_max)
  double rank_step = 1;       ///< lambda: the mean rank's step per round (fah, waterfill, online)
  // hetlora
  std::vector<uint32_t> tier_ranks;  ///< per tier; empty: r_max * compute_factor
  double prune_penalty = 0.01;  ///< clients' penalty on the squared norm of the tail ranks
  double prune_keep = 0.9;      ///< the tail: components past floor(prune_keep * rank)
  double prune_threshold = 0.1; ///< prune when the tail's share of ||B A|| is below this
  // online
  double on_time_target = 0.6;  ///< fraction of clients the deadline is paced to have on time
  double safety = 1.0;          ///< margin: predictions use mean + safety * std
  uint32_t min_steps = 5;       ///< fewest local steps before a client is left to run late
  bool adapt_bits = false;      ///< choose each client's backbone format too
  bool bandit = false;          ///< the mean-rank budget from a UCB1 bandit over rank arms
  std::vector<std::string> bits_choices{"fp32", "bf16", "int8", "nf4"};  ///< highest precision first
};

/// What every policy knows of the world besides the round's input.
struct policy_context {
  std::vector<tier_profile> tiers;
  cost_options cost;
  memory_model memory;
};

/// Decides ranks, bits, steps and the deadline of each round. Policies may
/// keep state across rounds (estimates learnt from telemetry); they are
/// deterministic functions of their inputs and never plan over a client's
/// memory.
class policy {
public:
  virtual ~policy() = default;
  virtual round_plan plan(const plan_input& in) = 0;
};

/// Throws std::invalid_argument for an unknown name (the message lists the known ones).
std::unique_ptr<policy> make_policy(const policy_options& opts, policy_context ctx);

/// Names make_policy accepts.
const std::vector<std::string>& policy_names();

/// Whether the policy reads round_feedback's client losses: the server then
/// asks every client to measure its local validation loss after training,
/// with and without its rank tail.
bool needs_local_validation(const std::string& policy);

/// The work a client does at `rank` under `in`'s payload model.
work_item work_for(const plan_input& in, uint32_t rank, uint32_t steps,
                   const std::string& bits = "fp32");

/// The largest rank in [r_min, cap] that fits the client's memory with `bits`; 0 if none.
uint32_t memory_cap_rank(const policy_context& ctx, const client_view& c, const std::string& bits,
                         uint32_t r_min, uint32_t r_max);

/// Learns, per client, how its observed compute and transfer times compare
/// to its tier's nominal model (EWMA mean and variance of the two ratios),
/// and predicts durations with a chosen margin of standard deviations.
class duration_estimator {
public:
  duration_estimator(policy_context ctx, double ewma);
  void observe(const client_view& c);
  /// Predicted seconds of `w`: mean + z * std of the learnt ratios.
  double predict(const client_view& c, const work_item& w, double z = 0) const;

  /// A client's learnt ratios at z standard deviations: compute and transfer.
  struct speed {
    double compute = 1.0, transfer = 1.0;
  };
  speed speed_of(const client_view& c, double z) const;
  /// predict(), from the parts it is made of (the one formula; hot loops
  /// call it with the parts computed once).
  double predict(const tier_profile& tier, speed s, double bits_factor, uint32_t rank, uint32_t steps,
                 uint32_t tokens_per_step, uint64_t bytes_down, uint64_t bytes_up) const {
    return compute_seconds(ctx_.cost, tier, bits_factor, rank, steps, tokens_per_step) * s.compute +
           2 * tier.latency_s + data_seconds(tier, bytes_down, bytes_up) * s.transfer;
  }
  const policy_context& context() const { return ctx_; }

private:
  struct ratio {
    double mean = 1.0, var = 0.0;
    void add(double x, double w, bool first);
  };
  struct state {
    bool seen = false;
    uint32_t last_round = 0;
    ratio compute, transfer;
  };
  policy_context ctx_;
  double ewma_;
  std::vector<state> per_client_;  // by client id, grown on demand
};

} // namespace fedq::scheduling
