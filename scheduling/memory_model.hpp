#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace fedq::scheduling {

/// Training memory of one client as a function of LoRA rank and backbone
/// format: base_mb[bits] (frozen weights and activations) + per_rank_mb * rank
/// (adapter, gradients and optimizer state). Filled from the model's shapes
/// by the experiment; the scheduler never issues a plan that exceeds a
/// client's memory under it.
struct memory_model {
  std::map<std::string, double> base_mb;  ///< by backbone format (nf4 | int8 | bf16 | fp32)
  double per_rank_mb = 0;

  bool has(const std::string& bits) const { return base_mb.count(bits) > 0; }
  /// Throws std::out_of_range for a format the model has no entry for.
  double mb(uint32_t rank, const std::string& bits) const {
    return base_mb.at(bits) + per_rank_mb * rank;
  }
  /// The largest rank in [r_min, r_max] that fits `capacity_mb` with `bits`;
  /// 0 when not even r_min fits (or the format is unknown).
  uint32_t max_rank(double capacity_mb, const std::string& bits, uint32_t r_min,
                    uint32_t r_max) const {
    if (!has(bits) || mb(r_min, bits) > capacity_mb)
      return 0;
    if (per_rank_mb <= 0)
      return r_max;
    double r = (capacity_mb - base_mb.at(bits)) / per_rank_mb;
    return r >= r_max ? r_max : static_cast<uint32_t>(r);
  }
};

} // namespace fedq::scheduling
