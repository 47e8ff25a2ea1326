#include "data/fairness.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace fedq::data {

double quantile(std::vector<double> x, double q) {
  if (x.empty())
    throw std::invalid_argument("quantile of no values");
  std::sort(x.begin(), x.end());
  double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(x.size() - 1);
  auto lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, x.size() - 1);
  return x[lo] + (pos - static_cast<double>(lo)) * (x[hi] - x[lo]);
}

fairness summarize_fairness(const std::vector<double>& scores) {
  fairness f;
  if (scores.empty())
    return f;
  double n = static_cast<double>(scores.size());
  double sum = 0, sum_pos = 0, sq_pos = 0;
  for (double x : scores) {
    sum += x;
    double p = std::max(x, 0.0);
    sum_pos += p;
    sq_pos += p * p;
  }
  f.clients = static_cast<uint32_t>(scores.size());
  f.mean = sum / n;
  double var = 0;
  for (double x : scores)
    var += (x - f.mean) * (x - f.mean);
  f.stddev = std::sqrt(var / n);
  f.worst = *std::min_element(scores.begin(), scores.end());
  f.p10 = quantile(scores, 0.1);
  f.p50 = quantile(scores, 0.5);
  f.jain = sq_pos > 0 ? sum_pos * sum_pos / (n * sq_pos) : 1.0;
  return f;
}

} // namespace fedq::data
