#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.hpp"

namespace fedq::data {

/// Splits example indices across `clients` with label skew: for each label,
/// client shares are drawn from Dirichlet(alpha) (alpha 0.1: severe skew).
/// Every client ends with at least `min_per_client` examples: draws are
/// repeated (deterministically) until that holds; throws std::invalid_argument
/// when it cannot hold. Deterministic for a seed.
std::vector<std::vector<uint32_t>> dirichlet_split(const dataset& d, uint32_t clients,
                                                   double alpha, uint32_t min_per_client,
                                                   uint64_t seed);

/// Per-client label histogram of a split.
std::vector<std::vector<uint32_t>> label_histogram(const dataset& d,
                                                   const std::vector<std::vector<uint32_t>>& split);

} // namespace fedq::data
