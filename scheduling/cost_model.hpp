#pragma once

#include <cstdint>

#include "scheduling/tier.hpp"

namespace fedq::scheduling {

/// Step-time model of the reference hardware (gpu-fast, factor 1.0):
/// one local step over `ref_tokens` tokens costs step_base_s + rank * step_per_rank_s.
struct cost_options {
  double step_base_s = 0.04;
  double step_per_rank_s = 0.004;
  uint32_t ref_tokens = 512;
};

/// What a client is asked to do in one task.
struct work_item {
  uint32_t rank = 0;
  uint32_t steps = 0;
  uint32_t tokens_per_step = 0;
  uint64_t bytes_down = 0;
  uint64_t bytes_up = 0;
};

/// Compute seconds of `w` on tier `t`, without noise.
double compute_seconds(const cost_options& c, const tier_profile& t, const work_item& w);

/// Seconds to move the payloads down and up, latency included.
double transfer_seconds(const tier_profile& t, const work_item& w);

/// compute_seconds + transfer_seconds, without noise.
double nominal_seconds(const cost_options& c, const tier_profile& t, const work_item& w);

/// A 64-bit seed for (client, round) derived from the run's seed.
uint64_t mix_seed(uint64_t seed, uint32_t client, uint32_t round);

/// Multiplicative log-normal noise exp(sigma * z) - with z drawn from a
/// standard normal determined by (seed, client, round) alone.
double jitter_factor(uint64_t seed, uint32_t client, uint32_t round, double sigma);

} // namespace fedq::scheduling
