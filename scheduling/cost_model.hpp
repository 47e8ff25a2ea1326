#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scheduling/tier.hpp"

namespace fedq::scheduling {

/// Step-time model of the reference hardware (gpu-fast, factor 1.0):
/// one local step over `ref_tokens` tokens costs
/// (step_base_s + rank * step_per_rank_s) * <bits>_factor.
/// The bits factors price the on-the-fly dequantization of the frozen backbone.
struct cost_options {
  double step_base_s = 0.04;
  double step_per_rank_s = 0.004;
  uint32_t ref_tokens = 512;
  double nf4_factor = 1.3;
  double int8_factor = 1.15;
  double bf16_factor = 1.0;
  double fp32_factor = 1.0;
};

/// The step-time multiplier of backbone format `bits` (nf4 | int8 | bf16 | fp32).
/// Throws std::invalid_argument for another name.
double bits_factor(const cost_options& c, const std::string& bits);
double& bits_factor(cost_options& c, const std::string& bits);

/// One measured training step time (`fedq profile`).
struct step_sample {
  std::string bits;
  uint32_t rank = 0;
  double step_s = 0;
};

/// The cost model that fits `samples` measured at `tokens_per_step` tokens:
/// a least-squares line step_s = base + per_rank * rank on the `ref_bits`
/// samples (rescaled to `ref_tokens`), and for every other format the mean
/// ratio of its step time to the reference line at the same ranks. Throws
/// std::invalid_argument if the reference format lacks two distinct ranks.
cost_options fit_cost(const std::vector<step_sample>& samples, uint32_t tokens_per_step,
                      uint32_t ref_tokens, const std::string& ref_bits);

/// What a client is asked to do in one task.
struct work_item {
  uint32_t rank = 0;
  uint32_t steps = 0;
  uint32_t tokens_per_step = 0;
  uint64_t bytes_down = 0;
  uint64_t bytes_up = 0;
  std::string bits = "fp32";  ///< the backbone format it trains on
};

/// Compute seconds of `steps` steps at `rank` on tier `t` for a backbone
/// format whose cost factor is `bits_factor`, without noise. The one
/// formula: the work_item overload and the schedulers' hot loops use it.
inline double compute_seconds(const cost_options& c, const tier_profile& t, double bits_factor,
                              uint32_t rank, uint32_t steps, uint32_t tokens_per_step) {
  double per_step = (c.step_base_s + c.step_per_rank_s * rank) * bits_factor;
  double token_scale = static_cast<double>(tokens_per_step) / c.ref_tokens;
  return steps * per_step * token_scale / t.compute_factor;
}

/// Compute seconds of `w` on tier `t`, without noise.
double compute_seconds(const cost_options& c, const tier_profile& t, const work_item& w);

/// Seconds `down` and `up` payload bytes take at the tier's nominal
/// bandwidth, without latency.
inline double data_seconds(const tier_profile& t, uint64_t down, uint64_t up) {
  auto seconds = [](uint64_t bytes, double mbps) { return bytes * 8.0 / (mbps * 1e6); };
  return seconds(down, t.down_mbps) + seconds(up, t.up_mbps);
}

/// Seconds the payload bytes take down and up at the tier's nominal bandwidth,
/// without latency.
double data_seconds(const tier_profile& t, const work_item& w);

/// Seconds to move the payloads down and up, latency included.
double transfer_seconds(const tier_profile& t, const work_item& w);

/// compute_seconds + transfer_seconds, without noise.
double nominal_seconds(const cost_options& c, const tier_profile& t, const work_item& w);

/// A 64-bit seed for (client, round) derived from the run's seed.
uint64_t mix_seed(uint64_t seed, uint32_t client, uint32_t round);

/// A uniform draw in (0, 1) determined by `key` alone.
double unit_uniform(uint64_t key);

/// A standard normal draw determined by `key` alone.
double unit_normal(uint64_t key);

/// Multiplicative log-normal noise exp(sigma * z) - with z drawn from a
/// standard normal determined by (seed, client, round) alone.
double jitter_factor(uint64_t seed, uint32_t client, uint32_t round, double sigma);

} // namespace fedq::scheduling
