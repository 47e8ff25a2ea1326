#pragma once

#include <cstdint>
#include <vector>

namespace fedq::data {

/// How evenly a model serves the clients: statistics of per-client scores.
struct fairness {
  uint32_t clients = 0;
  double mean = 0;
  double worst = 0;  ///< lowest client score
  double p10 = 0;    ///< 10th percentile (linear interpolation, as numpy)
  double p50 = 0;
  double stddev = 0; ///< population standard deviation
  double jain = 0;   ///< Jain's index (sum x)^2 / (n sum x^2) of max(x, 0); 1 = equal
};

/// Fairness figures of `scores` (one per client); all zero when empty.
fairness summarize_fairness(const std::vector<double>& scores);

/// The q-quantile (0..1) of `x` with linear interpolation between order statistics.
double quantile(std::vector<double> x, double q);

} // namespace fedq::data
